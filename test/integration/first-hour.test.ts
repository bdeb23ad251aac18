/**
 * A newcomer's first hour: a fresh server that has never seen a worker (no search attributes registered), and a
 * server that goes away while the CLI waits.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connectLazily, EXIT, runCli, type PipelineSummary, type RunSummary } from '../../src/cli';
import { freePort, startDevServer } from '../../src/dev/dev-server';
import { SEARCH_ATTRIBUTES } from '../../src/shared/search-attributes';
import { cliOn, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed({}, { searchAttributes: false });
});
afterAll(async () => {
  await bed?.teardown();
});

const specDir = mkdtempSync(path.join(tmpdir(), 'first-hour-'));
const ECHO_SPEC = path.join(specDir, 'echo.yaml');
writeFileSync(ECHO_SPEC, 'name: echo\nsteps:\n  only:\n    model: sim/echo\n    input: { prompt: hi }\n');

async function registeredSearchAttributes(): Promise<string[]> {
  const listed = await bed.env.connection.operatorService.listSearchAttributes({
    namespace: bed.config.namespace,
  });
  return Object.keys(listed.customAttributes ?? {});
}

it('on a fresh server (no worker ever registered the search attributes) pipeline run and run just work', async () => {
  expect(await registeredSearchAttributes()).not.toContain('ReplicatePipelineId');

  const pipeline = await cliOn(bed, 'pipeline', 'run', ECHO_SPEC, '--json');
  expect(pipeline.err).toEqual([]);
  expect(pipeline.code).toBe(EXIT.ok);
  expect(JSON.parse(pipeline.out[0]!) as PipelineSummary).toMatchObject({ status: 'succeeded' });
  expect(await registeredSearchAttributes()).toEqual(
    expect.arrayContaining(SEARCH_ATTRIBUTES.map((key) => key.name)),
  );

  // registering again is a no-op
  const run = await cliOn(bed, 'run', '--model', 'sim/echo', '--input', '{"prompt":"again"}', '--json');
  expect(run.code).toBe(EXIT.ok);
  expect(JSON.parse(run.out[0]!) as RunSummary).toMatchObject({ status: 'succeeded' });
});

it('a server that goes away while run waits: one line with a hint, exit 2, no stack trace', async () => {
  const port = await freePort();
  const server = await startDevServer({ port, uiPort: null });
  const out: string[] = [];
  const err: string[] = [];
  const id = `gone-${randomUUID()}`;
  try {
    const done = runCli(['run', '--model', 'sim/echo', '--input', '{}', '--workflow-id', id], {
      client: connectLazily({ address: server.address, namespace: 'default', taskQueue: 'unused' }),
      taskQueue: `nobody-${randomUUID()}`, // no worker: the run stays open
      noWorkerWarningMs: 60_000,
      out: (line) => out.push(line),
      err: (line) => err.push(line),
    });
    await expect.poll(() => out.join('\n'), { timeout: 10_000 }).toContain(`workflow ${id} started`);
    await server.stop('SIGKILL');
    const code = await done;
    expect(code).toBe(EXIT.usage);
    const lines = err.join('\n').split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`lost the connection to Temporal at ${server.address}`);
    expect(lines[0]).toContain(`npm run -s client -- result ${id}`); // how to reattach once it is back
    expect(lines[0]).not.toMatch(/will retry|\n\s+at /);
  } finally {
    await server.stop();
  }
});
