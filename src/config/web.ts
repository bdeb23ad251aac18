/** The web page's settings (`replicate-temporal web`): WEB_PORT, WEB_HOST, WEB_AUTH_TOKEN, TEMPORAL_UI_URL, outputs. */
import { isLoopback } from './codec-server';
import { ConfigError, readPort, type Env } from './env-values';
import { readTemporalConfig, type TemporalConfig } from './index';

export const DEFAULT_WEB_PORT = 8080;

export interface WebConfig {
  port: number;
  /** WEB_HOST, default 127.0.0.1; another address only with authToken */
  host: string;
  /** WEB_AUTH_TOKEN: a bearer token, or the login form's password; unset = none (loopback only) */
  authToken?: string;
  /** TEMPORAL_UI_URL, else the dev server's UI (the frontend port + 1000) when Temporal is on this machine */
  temporalUiUrl: string | null;
  /** OUTPUT_URL or OUTPUT_DIR (default `outputs`): where the workers persist files; the page reads them there */
  outputs: string;
  temporal: TemporalConfig;
}

export function readWebConfig(env: Env = process.env): WebConfig {
  const temporal = readTemporalConfig(env);
  const port =
    readPort(env, 'WEB_PORT', 0, `for the web page (default ${DEFAULT_WEB_PORT})`) ?? DEFAULT_WEB_PORT;
  const host = env.WEB_HOST?.trim() || '127.0.0.1';
  const authToken = env.WEB_AUTH_TOKEN?.trim() || undefined;
  if (authToken !== undefined && (authToken.length < 16 || /\s/.test(authToken))) {
    throw new ConfigError(
      'WEB_AUTH_TOKEN must be at least 16 characters without spaces, e.g. from `openssl rand -hex 32`',
    );
  }
  if (authToken === undefined && !isLoopback(host)) {
    throw new ConfigError(
      `WEB_HOST="${host}" is not a loopback address and WEB_AUTH_TOKEN is not set: anyone who reaches it could see every output and cancel runs; set WEB_AUTH_TOKEN (e.g. \`openssl rand -hex 32\`), or bind 127.0.0.1`,
    );
  }
  return {
    port,
    host,
    ...(authToken ? { authToken } : {}),
    temporalUiUrl: temporalUiUrl(env, temporal.address),
    outputs: env.OUTPUT_URL?.trim() || env.OUTPUT_DIR?.trim() || 'outputs',
    temporal,
  };
}

/** TEMPORAL_UI_URL (an http(s) URL), else `http://<host>:<port + 1000>` for a Temporal server on this machine. */
export function temporalUiUrl(env: Env, address: string): string | null {
  const raw = env.TEMPORAL_UI_URL?.trim();
  if (raw) {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol))
      throw new ConfigError(`TEMPORAL_UI_URL="${raw}" must be an http(s) URL, e.g. http://localhost:8233`);
    return url.href.replace(/\/$/, '');
  }
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  if (!match || !isLoopback(match[1]!)) return null;
  const port = Number(match[2]) + 1000;
  return port <= 65535 ? `http://${match[1]}:${port}` : null;
}
