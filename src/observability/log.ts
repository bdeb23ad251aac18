/**
 * Our processes' log lines (the worker, the webhook receiver, the CLI's diagnostics) in one place: LOG_FORMAT=text
 * (the default) keeps the familiar human lines, LOG_FORMAT=json prints one JSON object per line (`time`, `level`,
 * `message`, then the known fields `workflowId`, `runId`, `workflowType`, `taskQueue`, `activityType`,
 * `predictionId`, `model`, `attempt`, `error` as one string, then any other field). Whatever path a line takes,
 * the secrets read from the environment (the Replicate token above all) are replaced by `***` in the finished line.
 *
 * Hand-made rather than pino/winston: the SDK hands us finished entries through its own Logger interface, and
 * formatting one object per line is a few lines here; a logging library would add a dependency and a second
 * formatter for no gain.
 */
import { inspect } from 'node:util';
import { ConfigError } from '../config';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** the SDK's levels (TRACE and DEBUG are filtered out before us in practice) */
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

type Env = Record<string, string | undefined>;

/** LOG_FORMAT: `text` (default) or `json`; anything else is a ConfigError naming the variable and the choices. */
export function readLogFormat(env: Env = process.env): LogFormat {
  const value = env.LOG_FORMAT?.trim().toLowerCase() || 'text';
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new ConfigError(
    `LOG_FORMAT="${env.LOG_FORMAT}" is not a log format; use text (the default: human lines) or json (one JSON object per line)`,
  );
}

/** Values no log line may carry: the Replicate token, Temporal's API key, the webhook signing secret. */
export function secretsFromEnv(env: Env = process.env): string[] {
  return [env.REPLICATE_API_TOKEN, env.TEMPORAL_API_KEY, env.REPLICATE_WEBHOOK_SECRET]
    .map((s) => s?.trim())
    .filter((s): s is string => !!s);
}

/** The finished line with every secret replaced by `***`, also in its JSON-escaped spelling. */
export function redactLine(line: string, secrets: readonly string[]): string {
  let out = line;
  for (const secret of secrets) {
    if (!secret) continue;
    out = out.split(secret).join('***');
    const escaped = JSON.stringify(secret).slice(1, -1);
    if (escaped !== secret) out = out.split(escaped).join('***');
  }
  return out;
}

/** One thing to log: the SDK's LogEntry, or one of our own lines. */
export interface LogRecord {
  time: Date;
  level: LogLevel;
  message: string;
  meta?: Record<string, unknown>;
}

/** The known fields, in this order, right after time, level and message. */
export const KNOWN_FIELDS = [
  'component',
  'workflowId',
  'runId',
  'workflowType',
  'taskQueue',
  'activityType',
  'predictionId',
  'model',
  'attempt',
] as const;

/** Meta the SDK adds that says nothing useful in a line (an opaque base64 task token). */
const DROPPED = new Set(['taskToken']);

/** One JSON object, no newline. The SDK's `workflowRunId` (activity meta) becomes `runId`. */
export function jsonLine({ time, level, message, meta = {} }: LogRecord): string {
  const fields: Record<string, unknown> = { ...meta };
  if (fields.runId === undefined && fields.workflowRunId !== undefined) fields.runId = fields.workflowRunId;
  delete fields.workflowRunId;
  const out: Record<string, unknown> = { time: time.toISOString(), level, message };
  for (const key of KNOWN_FIELDS) if (fields[key] !== undefined) out[key] = fields[key];
  if (fields.error !== undefined) out.error = errorChain(fields.error);
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !(key in out) && !DROPPED.has(key)) out[key] = value;
  }
  try {
    return JSON.stringify(out, jsonValue);
  } catch {
    // a circular value: the line still goes out, its extra fields as text
    const { time: t, level: l, message: m } = out;
    return JSON.stringify({
      time: t,
      level: l,
      message: m,
      meta: inspect(fields, { breakLength: Infinity }),
    });
  }
}

function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return errorChain(value);
  return value;
}

/** The SDK's entries as text: time, [LEVEL], message, the error's chain, the other fields (as before LOG_FORMAT). */
export function textLine({ time, level, message, meta }: LogRecord): string {
  const head = `${time.toISOString()} [${level}] ${message}`;
  if (meta === undefined) return head;
  const { error, taskToken: _token, ...rest } = meta;
  const reason = error === undefined ? '' : `: ${errorChain(error)}`;
  return `${head}${reason} ${inspect(rest, { breakLength: Infinity })}`;
}

/** An error and its causes on one line (no stack): `Type: message <- Cause: message`. */
export function errorChain(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && e !== null && parts.length < 4;
    e = (e as { cause?: unknown }).cause
  ) {
    const type = (e as { type?: unknown }).type; // an ApplicationFailure's type says more than its class
    const text = e instanceof Error ? `${typeof type === 'string' ? type : e.name}: ${e.message}` : String(e);
    parts.push(text.replace(/\s*\n\s*/g, ' '));
    if (!(e instanceof Error)) break;
  }
  return parts.join(' <- ');
}

export interface ProcessLogOptions {
  format: LogFormat;
  /** `worker`, `webhooks`, `cli`: a field in json; in text the prefix of warnings and errors (`worker: ...`) */
  component: string;
  /** default: secretsFromEnv() */
  secrets?: readonly string[];
  /** where a finished line goes; default stdout for INFO (and below), stderr for WARN and ERROR */
  write?: (line: string, level: LogLevel) => void;
  now?: () => Date;
}

/**
 * A process's own lines. Text: an INFO line is the message alone (stdout), a WARN or ERROR line is
 * `<component>: <message>` (stderr), exactly as these processes printed before LOG_FORMAT. Json: one object.
 */
export class ProcessLog {
  readonly format: LogFormat;
  readonly component: string;
  private readonly secrets: readonly string[];
  private readonly writeLine: (line: string, level: LogLevel) => void;
  private readonly now: () => Date;

  constructor(options: ProcessLogOptions) {
    this.format = options.format;
    this.component = options.component;
    this.secrets = options.secrets ?? secretsFromEnv();
    this.writeLine = options.write ?? writeByLevel;
    this.now = options.now ?? (() => new Date());
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.emit('INFO', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.emit('WARN', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.emit('ERROR', message, fields);
  }

  emit(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    this.writeLine(this.render(level, message, fields), level);
  }

  /** The finished (redacted) line of one of our messages. */
  render(level: LogLevel, message: string, fields?: Record<string, unknown>): string {
    const line =
      this.format === 'json'
        ? jsonLine({ time: this.now(), level, message, meta: { component: this.component, ...fields } })
        : level === 'WARN' || level === 'ERROR'
          ? `${this.component}: ${message}`
          : message;
    return this.redact(line);
  }

  /** The finished (redacted) line of an SDK entry (workflow, activity, worker and core logs). */
  renderEntry(record: LogRecord): string {
    return this.redact(this.format === 'json' ? jsonLine(record) : textLine(record));
  }

  redact(line: string): string {
    return redactLine(line, this.secrets);
  }
}

function writeByLevel(line: string, level: LogLevel): void {
  (level === 'WARN' || level === 'ERROR' ? process.stderr : process.stdout).write(`${line}\n`);
}

/**
 * The process's log from LOG_FORMAT. A bad LOG_FORMAT cannot be said in the format it names: the error is
 * returned for the caller to print in text and exit 2 (`problem`), with a text log to print it with.
 */
export function processLogFromEnv(
  component: string,
  env: Env = process.env,
): { log: ProcessLog; problem?: ConfigError } {
  try {
    return { log: new ProcessLog({ format: readLogFormat(env), component, secrets: secretsFromEnv(env) }) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return {
      log: new ProcessLog({ format: 'text', component, secrets: secretsFromEnv(env) }),
      problem: error,
    };
  }
}

/**
 * A CLI diagnostic (what a command prints to stderr: `error: ...`, `warning: ...`, hints) as a log line: in json
 * the `error: ` / `warning: ` prefix becomes the level (ERROR, WARN; INFO otherwise) and the rest the message.
 */
export function cliDiagnostic(log: ProcessLog, line: string): string {
  if (log.format === 'text') return log.redact(line);
  const match = /^(error|warning): ([\s\S]*)$/.exec(line);
  const level: LogLevel = match?.[1] === 'error' ? 'ERROR' : match?.[1] === 'warning' ? 'WARN' : 'INFO';
  return log.render(level, match ? match[2]! : line);
}
