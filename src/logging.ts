/**
 * The worker's log output: what the workflows and activities log (creations, status changes, failed attempts),
 * without the SDK's start-up chatter (worker state changes, webpack) and with one line, not a page of gRPC retry
 * warnings, when Temporal stops answering.
 */
import { inspect } from 'node:util';
import {
  DefaultLogger,
  makeTelemetryFilterString,
  type LogEntry,
  type RuntimeOptions,
} from '@temporalio/worker';
import { temporalUnreachableHint } from './dev/hints';

/** Runtime options for `npm run worker`: INFO from our code, WARN from the SDK, core logs through the same filter. */
export function workerRuntimeOptions(
  address: string,
  write: (line: string) => void = defaultWrite,
): RuntimeOptions {
  let lastOutageLine = 0;
  const logger = new DefaultLogger('INFO', (entry: LogEntry) => {
    const component = entry.meta?.sdkComponent;
    // The SDK's own INFO lines (worker state changes, "no Nexus services", bundling) are start-up noise.
    if (
      (component === 'worker' || component === 'core') &&
      (entry.level === 'INFO' || entry.level === 'DEBUG')
    )
      return;
    if (component === 'core' && /retried \d+ times|tcp connect error|transport error/i.test(entry.message)) {
      // every poller logs each retry: say it once a minute instead
      if (Date.now() - lastOutageLine < 60_000) return;
      lastOutageLine = Date.now();
      write(`worker: Temporal at ${address} does not answer; still retrying. ${temporalUnreachableHint}`);
      return;
    }
    write(format(entry));
  });
  return {
    logger,
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  };
}

function defaultWrite(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One line per entry: an error in the metadata shows as its message and its causes' (no stack trace). */
function format({ level, timestampNanos, message, meta }: LogEntry): string {
  const time = new Date(Number(timestampNanos / 1_000_000n)).toISOString();
  if (meta === undefined) return `${time} [${level}] ${message}`;
  const { error, ...rest } = meta as { error?: unknown } & Record<string, unknown>;
  const reason = error === undefined ? '' : `: ${errorLine(error)}`;
  return `${time} [${level}] ${message}${reason} ${inspect(rest, { breakLength: Infinity })}`;
}

function errorLine(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error;
    e !== undefined && e !== null && parts.length < 4;
    e = (e as { cause?: unknown }).cause
  ) {
    const type = (e as { type?: unknown }).type; // an ApplicationFailure's type says more than its class
    const text = e instanceof Error ? `${typeof type === 'string' ? type : e.name}: ${e.message}` : String(e);
    parts.push(text.replace(/\s*\n\s*/g, ' '));
  }
  return parts.join(' <- ');
}
