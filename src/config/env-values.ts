/**
 * Reading one environment value strictly: booleans in their usual spellings, numbers in plain decimal within
 * bounds. Anything else is a ConfigError of one line naming the variable, what it accepts and the fix: a typo must
 * never silently mean the default (`TEMPORAL_TLS=TRUE` read as plaintext, `REPLICATE_CREATE_RPM=0x10` as 16).
 */

import { ConfigError, type Env } from './errors';

export { ConfigError, type Env };

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

/** true/false/1/0/yes/no/on/off in any case; undefined when unset or blank. */
export function readBoolean(env: Env, name: string): boolean | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const value = raw.toLowerCase();
  if (TRUE.includes(value)) return true;
  if (FALSE.includes(value)) return false;
  throw new ConfigError(
    `${name}="${raw}" must be true or false (also 1/0, yes/no, on/off, any case); set one of those or unset it`,
  );
}

export interface DecimalRule {
  min: number;
  max: number;
  /** whole numbers only */
  integer?: boolean;
  /** what the number is, for the message: "seconds in-flight activities may finish after SIGTERM" */
  meaning: string;
  /** the default, named in the message when there is one */
  fallback?: number;
}

/** Digits with an optional fraction: no sign, exponent, hex, octal, binary, Infinity or NaN. */
const DECIMAL = /^\d+(\.\d+)?$/;
const INTEGER = /^\d+$/;

/** A plain decimal number within [min, max]; the fallback when unset or blank. */
export function readDecimal(env: Env, name: string, rule: DecimalRule & { fallback: number }): number;
export function readDecimal(env: Env, name: string, rule: DecimalRule): number | undefined;
export function readDecimal(env: Env, name: string, rule: DecimalRule): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return rule.fallback;
  return parseDecimal(name, raw, rule);
}

/** `raw` (already trimmed, not blank) as a plain decimal number within [min, max], else a ConfigError. */
export function parseDecimal(name: string, raw: string, rule: DecimalRule): number {
  const value = Number(raw);
  if (!(rule.integer ? INTEGER : DECIMAL).test(raw) || !(value >= rule.min && value <= rule.max)) {
    const kind = rule.integer ? 'a whole number' : 'a decimal number';
    const fallback = rule.fallback === undefined ? 'unset it' : `unset it for the default ${rule.fallback}`;
    throw new ConfigError(
      `${name}="${raw}" must be ${kind} from ${format(rule.min)} to ${format(rule.max)} (${rule.meaning}), written in plain digits; fix the value or ${fallback}`,
    );
  }
  return value;
}

/** A port (decimal, 0-65535 or 1-65535); undefined when unset or blank. */
export function readPort(env: Env, name: string, min: 0 | 1, purpose: string): number | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const port = Number(raw);
  if (!INTEGER.test(raw) || port < min || port > 65535) {
    throw new ConfigError(`${name}="${raw}" must be a port number (${min}-65535) ${purpose}`);
  }
  return port;
}

function format(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 6 });
}

/**
 * A comma-separated list of origins (`scheme://host[:port]`, http or https, no path, no wildcard) from `name`, or
 * [] when unset; anything else is a ConfigError naming the value and `example`.
 */
export function readOrigins(env: Env, name: string, example: string): string[] {
  const raw = env[name]?.trim();
  if (!raw) return [];
  return raw
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '')
    .map((o) => {
      let url: URL | undefined;
      try {
        url = new URL(o);
      } catch {
        url = undefined;
      }
      if (
        !url ||
        (url.protocol !== 'https:' && url.protocol !== 'http:') ||
        url.href !== `${url.origin}/` ||
        url.hostname.includes('*')
      ) {
        throw new ConfigError(
          `${name}: "${o}" is not an origin; list scheme://host[:port] values (no paths, no wildcards) separated by commas, e.g. ${example}`,
        );
      }
      return url.origin;
    });
}
