// Runs in every test worker before its test file: keep the SDK's log lines out of the test output unless a test
// fails. vitest captures console output per test (`silent: 'passed-only'` shows it only for failed tests), but the
// Temporal SDK's DefaultLogger writes straight to process.stderr and core (Rust) logs go to the native stderr.
import { Runtime, makeTelemetryFilterString } from '@temporalio/worker';

/** A line of the SDK's DefaultLogger: `2026-01-01T00:00:00.000Z [WARN] message {meta}`. */
const SDK_LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \[(TRACE|DEBUG|INFO|WARN|ERROR)\] /;

// Once per process: the unit files share their processes (vitest.config.mts) and run this before each file.
const PATCHED = Symbol.for('replicate-temporal.test-stderr');
const globals = globalThis as { [PATCHED]?: boolean };
const write = process.stderr.write.bind(process.stderr);
let routing = false;
if (!globals[PATCHED]) {
  globals[PATCHED] = true;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!routing && typeof chunk === 'string' && SDK_LOG_LINE.test(chunk)) {
      routing = true;
      try {
        console.error(chunk.trimEnd()); // captured by vitest, attributed to the running test
      } finally {
        routing = false;
      }
      return true;
    }
    return (write as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
}

// A runtime created on demand (Runtime.instance(), e.g. by a Worker in a test that installs none) writes only core
// errors to the native stderr, which vitest cannot capture. (Forwarding them to the TS logger would delay every log
// line by 100 ms.)
Runtime.defaultOptions = {
  telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
};
