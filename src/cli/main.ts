#!/usr/bin/env node
/**
 * The CLI as a process (`npx replicate-temporal <command>` from the package, `npm run -s client -- <command>` in a
 * checkout): configuration from the environment, Ctrl-C. `worker` runs the worker in this process instead.
 * Its diagnostics (stderr: errors, warnings, hints) are its log: with LOG_FORMAT=json each is one JSON object
 * (src/observability/log.ts); what a command prints on stdout (results, tables, `--json`) stays as it is.
 */
import { readFileSync } from 'node:fs';
import { claimKey, storeClaimStore } from '../activities/claims';
import { outputStore } from '../activities/outputs';
import { readTemporalConfig, type TemporalConfig } from '../config';
import { cliDiagnostic, processLogFromEnv } from '../observability/log';
import { activeTracing } from '../observability/tracing';
import { EXIT, connectLazily, runCli, terminalLine } from './index';
import { wantsHelp } from './usage';

const { log, problem } = processLogFromEnv('cli');
const diagnostic = (line: string): void => console.error(cliDiagnostic(log, line));

async function main(argv: string[]): Promise<number> {
  // the worker drains on its own signals; loaded only here (the SDK's native worker is heavy)
  if (argv[0] === 'worker' && !wantsHelp(argv.slice(1)))
    return (await import('../worker/command.js')).workerCommand(argv.slice(1));
  let config: TemporalConfig;
  try {
    if (problem) throw problem;
    config = readTemporalConfig();
  } catch (error) {
    diagnostic(`error: ${(error as Error).message}`);
    return EXIT.usage;
  }
  // Ctrl-C: a waiting command stops watching and says how to reattach; a second one (or none waiting) exits.
  const interrupt = new AbortController();
  process.once('SIGINT', () => {
    interrupt.abort();
    setTimeout(() => process.exit(EXIT.interrupted), 2_000).unref();
  });
  return runCli(argv, {
    client: connectLazily(config),
    taskQueue: config.taskQueue,
    out: (line) => console.log(line),
    err: diagnostic,
    readFile: (path) => readFileSync(path, 'utf8'),
    // claim checks from the workers' store: the OUTPUT_URL bucket when set, else OUTPUT_DIR/.claims
    claims: storeClaimStore(
      outputStore(process.env.OUTPUT_URL?.trim() || process.env.OUTPUT_DIR?.trim() || 'outputs'),
    ),
    ...(process.env.REPLICATE_API_TOKEN?.trim()
      ? { claimKey: claimKey(process.env.REPLICATE_API_TOKEN.trim()) }
      : {}),
    signal: interrupt.signal,
    live: process.stdout.isTTY ? terminalLine(process.stdout) : undefined,
  });
}

main(process.argv.slice(2)).then(
  // export the spans (OTEL_* tracing), then exit once stdout is flushed: a pipe takes large output (`run --json |
  // jq` of a claim-checked value) asynchronously, and process.exit would cut it off
  async (code) => {
    await activeTracing()?.shutdown();
    process.stdout.write('', () => process.exit(code));
  },
  async (error: unknown) => {
    diagnostic(`error: ${error instanceof Error ? error.message : String(error)}`);
    await activeTracing()?.shutdown();
    process.exit(EXIT.failed);
  },
);
