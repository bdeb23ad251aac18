/**
 * The worker's log output: what the workflows and activities log (creations, status changes, failed attempts),
 * without the SDK's start-up chatter (worker state changes, webpack) and with one line, not a page of gRPC retry
 * warnings, when Temporal stops answering. Text or one JSON object per line (LOG_FORMAT), token redacted: the
 * formatting is in ./observability/log.ts.
 */
import {
  DefaultLogger,
  makeTelemetryFilterString,
  type LogEntry,
  type RuntimeOptions,
} from '@temporalio/worker';
import { temporalUnreachableHint } from '../dev/hints';
import { ProcessLog, type LogRecord } from '../observability/log';

/**
 * Runtime options for `npm run worker`: INFO from our code, WARN from the SDK, core logs through the same filter,
 * each entry formatted by `log` (text or json, redacted) and written to stderr.
 */
export function workerRuntimeOptions(
  address: string,
  log: ProcessLog = new ProcessLog({ format: 'text', component: 'worker' }),
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
    if (isExpectedSdkNotice(entry)) return;
    if (component === 'core' && /retried \d+ times|tcp connect error|transport error/i.test(entry.message)) {
      // every poller logs each retry: say it once a minute instead
      if (Date.now() - lastOutageLine < 60_000) return;
      lastOutageLine = Date.now();
      write(
        log.render(
          'WARN',
          `Temporal at ${address} does not answer; still retrying. ${temporalUnreachableHint}`,
        ),
      );
      return;
    }
    write(log.renderEntry(sdkRecord(entry)));
  });
  return {
    logger,
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN' }) } },
  };
}

/** The rate-limited reads queue's Worker has no workflows by design (src/worker/flow-control.ts): not a warning. */
export function isExpectedSdkNotice(entry: LogEntry): boolean {
  return entry.meta?.sdkComponent === 'worker' && entry.message.startsWith('No workflows registered');
}

function defaultWrite(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The SDK's entry as one of our records (its timestamp is in nanoseconds). */
export function sdkRecord({ level, timestampNanos, message, meta }: LogEntry): LogRecord {
  return { time: new Date(Number(timestampNanos / 1_000_000n)), level, message, meta };
}
