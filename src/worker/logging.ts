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
  const failures = new SaidFailures();
  const logger = new DefaultLogger('INFO', (entry: LogEntry) => {
    const component = entry.meta?.sdkComponent;
    // The SDK's own INFO lines (worker state changes, "no Nexus services", bundling) are start-up noise.
    if (
      (component === 'worker' || component === 'core') &&
      (entry.level === 'INFO' || entry.level === 'DEBUG')
    )
      return;
    if (isExpectedSdkNotice(entry)) return;
    if (failures.repeats(entry)) return;
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

/**
 * One line per failure: the lines that restate a failure an earlier line of the same run already said are dropped.
 * Our activities say each failed attempt (with its HTTP status and retry delay) and our workflows say why a job
 * ended; the SDK then repeats the same text as "Activity failed" and "Workflow failed", a run that fails because of
 * its activity's failure says "run failed: ...", and a pipeline whose child failed "step X failed: ...". A wrong
 * token was four lines; it is one. A restatement of a failure nobody said before (an unexpected error) is kept: it
 * is the only line about it. A pipeline and its children count as one run (child ids are `<pipeline id>--<step>`).
 */
export class SaidFailures {
  /** run (its root workflow id) → the failure texts its lines said (the most recent runs only) */
  private readonly said = new Map<string, Set<string>>();

  constructor(private readonly maxRuns = 2_000) {}

  /** Whether `entry` only repeats what a line of the same run said; remembers what it says otherwise. */
  repeats(entry: LogEntry): boolean {
    if (entry.level !== 'WARN' && entry.level !== 'ERROR') return false;
    const workflowId = entry.meta?.workflowId;
    if (typeof workflowId !== 'string') return false;
    const run = workflowId.split('--')[0]!;
    const restated = restatedFailure(entry);
    const text = restated ?? entry.message;
    const said = this.said.get(run);
    if (restated !== undefined && said?.has(text)) return true;
    if (said) {
      said.add(text);
      this.said.delete(run); // most recently used last
      this.said.set(run, said);
    } else {
      this.said.set(run, new Set([text]));
      if (this.said.size > this.maxRuns) this.said.delete(this.said.keys().next().value!);
    }
    return false;
  }
}

/** The failure text a restating line carries: the SDK's "Activity failed"/"Workflow failed", our "run failed: M"
 * and "step X failed: M". */
function restatedFailure(entry: LogEntry): string | undefined {
  if (entry.message === 'Activity failed' || entry.message === 'Workflow failed') {
    const message = (entry.meta?.error as { message?: unknown } | undefined)?.message;
    return typeof message === 'string' ? message : undefined;
  }
  return /^(run|step \S+) failed: ([\s\S]*)$/.exec(entry.message)?.[2];
}

/**
 * Not warnings: the rate-limited reads queue's Worker has no workflows by design (src/worker/flow-control.ts); a
 * query whose client stopped waiting (the CLI reads a run's state with a short deadline) cannot be answered.
 */
export function isExpectedSdkNotice(entry: LogEntry): boolean {
  const component = entry.meta?.sdkComponent;
  return (
    (component === 'worker' && entry.message.startsWith('No workflows registered')) ||
    (component === 'core' && entry.message.startsWith('Query not found when attempting to respond to it'))
  );
}

function defaultWrite(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The SDK's entry as one of our records (its timestamp is in nanoseconds). */
export function sdkRecord({ level, timestampNanos, message, meta }: LogEntry): LogRecord {
  return { time: new Date(Number(timestampNanos / 1_000_000n)), level, message, meta };
}
