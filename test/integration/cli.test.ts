/** The CLI contract: commands, flags, `--json` shape and exit codes, against a real server and worker. */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, type PipelineSummary, type RunSummary } from '../../src/cli';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { FAST_POLLING, startTestbed, type Testbed, cliLive, cliOn } from '../helpers/testbed';

/** One-step pipelines for the tests. */
const specDir = mkdtempSync(path.join(tmpdir(), 'cli-specs-'));
const ECHO_SPEC = path.join(specDir, 'echo.yaml');
writeFileSync(ECHO_SPEC, 'name: echo\nsteps:\n  only:\n    model: sim/echo\n    input: { prompt: hi }\n');
const NEVER_SPEC = path.join(specDir, 'never.yaml');
writeFileSync(NEVER_SPEC, 'name: never\nsteps:\n  only:\n    model: sim/never\n    input: {}\n');

/** `promise`, or a failure naming `what` after `ms` (a bound, not a synchronisation). */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

const cli = (...argv: string[]) => cliOn(bed, ...argv);

/** The real entry point as a process: `tsx src/cli/main.ts ...`. */
function cliProcess(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'), ...argv],
      {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: bed.config.address,
          TEMPORAL_TASK_QUEUE: bed.config.taskQueue,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('client CLI', () => {
  it('run --json prints exactly one JSON object and exits 0 (as a real process)', async () => {
    const { code, stdout } = await cliProcess(
      'run',
      '--model',
      'sim/echo',
      '--input',
      '{"prompt":"hi"}',
      '--json',
    );
    expect(code).toBe(EXIT.ok);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]!) as RunSummary;
    expect(Object.keys(summary).sort()).toEqual([
      'error',
      'files', // the output files kept in the worker's store: none in an echo
      'metrics',
      'output',
      'predictionId',
      'status',
      'workflowId',
    ]);
    expect(summary).toMatchObject({ status: 'succeeded', output: { prompt: 'hi' }, files: [], error: null });
    expect(bed.sim.prediction(summary.predictionId!)!.status).toBe('succeeded');
  });

  it('run shows status transitions and the output on a terminal', async () => {
    bed.sim.setModel('sim/slow', { startDelayMs: 500, durationMs: 4000, output: 'done' });
    const { code, out } = await cli('run', '--model', 'sim/slow', '--input', '{}');
    expect(code).toBe(EXIT.ok);
    const text = out.join('\n');
    expect(text).toMatch(/started \(timeout 10m00s\)/);
    expect(text).toMatch(/\d+\.\ds {2}processing {2}prediction [a-z0-9]{26}/);
    expect(text).toMatch(/succeeded {2}prediction/);
    expect(out.at(-1)).toBe('  done');
  });

  it("a failed prediction exits 1 with Replicate's error in the JSON", async () => {
    const { code, out } = await cli('run', '--model', 'sim/fail', '--input', '{}', '--json');
    expect(code).toBe(EXIT.failed);
    const summary = JSON.parse(out[0]!) as RunSummary;
    expect(summary.status).toBe('failed');
    expect(summary.error).toMatchObject({
      type: 'PredictionFailed',
      message: expect.stringContaining('CUDA out of memory'),
    });
    expect(summary.predictionId).toMatch(/^[a-z0-9]{26}$/);
  });

  it('start, status, cancel and result work by workflow id', async () => {
    const started = await cli(
      'start',
      '--model',
      'sim/never',
      '--input',
      '{}',
      '--workflow-id',
      'cli-never-1',
      '--json',
    );
    expect(started.code).toBe(EXIT.ok);
    expect(JSON.parse(started.out[0]!)).toMatchObject({ workflowId: 'cli-never-1' });

    const id = (await bed.sim.waitFor((p) => p.model === 'sim/never' && p.status === 'processing')).id;
    // the CLI uses default polling: the first poll comes 3 s after creation
    await expect
      .poll(
        async () => JSON.parse((await cli('status', 'cli-never-1', '--json')).out[0]!) as { status: string },
        { timeout: 10_000 },
      )
      .toMatchObject({ status: 'processing', predictionId: id, workflowStatus: 'RUNNING' });

    const canceled = await cli('cancel', 'cli-never-1', '--json');
    expect(canceled.code).toBe(EXIT.ok); // the cancel succeeded
    expect(JSON.parse(canceled.out[0]!)).toMatchObject({ status: 'canceled', predictionId: id });
    expect(bed.sim.counters(id).cancels).toBe(1);

    const result = await cli('result', 'cli-never-1', '--json');
    expect(result.code).toBe(EXIT.failed);
    expect(JSON.parse(result.out[0]!)).toMatchObject({ status: 'canceled' });
  });

  it('a failed run whose log lines the progress already printed does not print them again', async () => {
    bed.sim.setModel('cli/fails-late', {
      startDelayMs: 50,
      durationMs: 5_000,
      outcome: 'failed',
      error: 'boom',
      logs: ['loading weights', 'step 1 of 2'],
    });
    const { code, out, err } = await cli('run', '--model', 'cli/fails-late', '--input', '{}');
    expect(code).toBe(EXIT.failed);
    const printed = [...out, ...err].join('\n');
    expect(printed).toContain('boom');
    expect(printed.match(/loading weights/g)).toHaveLength(1);
    expect(printed.match(/step 1 of 2/g)).toHaveLength(1);
  });

  it('cancel says plainly that the run and its prediction were canceled (exit 0)', async () => {
    await cli('start', '--model', 'sim/never', '--input', '{"n":2}', '--workflow-id', 'cli-never-2');
    const id = (
      await bed.sim.waitFor((p) => p.model === 'sim/never' && p.status === 'processing' && p.input.n === 2)
    ).id;
    const canceled = await cli('cancel', 'cli-never-2');
    expect(canceled.code).toBe(EXIT.ok);
    expect(canceled.err).toEqual([]);
    expect(canceled.out.at(-1)).toBe(`canceled: workflow cli-never-2 and prediction ${id} at Replicate`);
    expect(bed.sim.prediction(id)!.status).toBe('canceled');
  });

  it('cancel of a run that has already ended says so, names how it ended, and exits 0', async () => {
    const done = await cli('run', '--model', 'sim/echo', '--input', '{}', '--workflow-id', 'cli-ended-1');
    expect(done.code).toBe(EXIT.ok);
    const again = await cli('cancel', 'cli-ended-1');
    expect(again.code).toBe(EXIT.ok);
    expect(again.err).toEqual([]);
    expect(again.out).toEqual(['workflow cli-ended-1 had already ended (succeeded): nothing to cancel']);
    const json = await cli('cancel', 'cli-ended-1', '--json');
    expect(json.code).toBe(EXIT.ok);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ workflowId: 'cli-ended-1', status: 'succeeded' });
    const unknown = await cli('cancel', 'cli-no-such-run');
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.err).toEqual(['error: no workflow with id "cli-no-such-run"']);
  });

  it.each([
    [['run', '--model', 'a/b', '--input', '{bad'], '--input is not valid JSON'],
    [['run', '--model', 'a/b', '--input', '[1]'], '--input must be a JSON object'],
    [['run', '--input', '{}'], '--model is required'],
    [['run', '--model', 'a/b'], '--input is required'],
    [['run', '--model', 'a/b', '--input', '{}', '--colour'], 'unknown option --colour'],
    [['run', '--model', 'a/b', '--input', '{}', '--timeout', '600'], '600s'],
    [['run', '--model', 'a/b', '--input', '{}', '--timeout', '2s'], 'out of range'],
    [['run', '--model', 'nope', '--input', '{}'], 'is not a model reference'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['status'], 'status takes one workflow id'],
    // B.7: ids Temporal would refuse are usage errors, before anything starts
    [['run', '--model', 'a/b', '--input', '{}', '--workflow-id', ''], '--workflow-id: must not be empty'],
    [['run', '--model', 'a/b', '--input', '{}', '--workflow-id', 'é'.repeat(900)], '1800 bytes'],
    [['start', '--model', 'a/b', '--input', '{}', '--workflow-id', 'x'.repeat(1800)], '1800 bytes'],
    [['pipeline', 'run', ECHO_SPEC, '--pipeline-id', ''], '--pipeline-id: must not be empty'],
    [['pipeline', 'run', ECHO_SPEC, '--pipeline-id', 'x'.repeat(1800)], '--pipeline-id: 1800 bytes'],
    // B.9: pipeline run checks its ceiling like run does
    [['pipeline', 'run', ECHO_SPEC, '--timeout', '0s'], 'out of range'],
    [['pipeline', 'run', ECHO_SPEC, '--timeout', '1ms'], 'out of range'],
    [['pipeline', 'run', ECHO_SPEC, '--timeout', '999999999h'], 'out of range'],
    // C.13: "did you mean" for unknown flags and commands
    [['run', '--model', 'a/b', '--input', '{}', '--workflowid', 'x'], 'did you mean --workflow-id?'],
    [['run', '--modle', 'a/b', '--input', '{}'], 'did you mean --model?'],
    [['pipeline', 'run', ECHO_SPEC, '--pipelineid', 'p'], 'did you mean --pipeline-id?'],
    [['stauts', 'x'], 'unknown command "stauts"; did you mean status?'],
  ])('usage error %j exits 2 naming the problem', async (argv, message) => {
    const started = Date.now();
    const { code, err } = await cli(...argv);
    expect(code).toBe(EXIT.usage);
    expect(err.join('\n')).toContain(message);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('an unknown workflow id exits 2', async () => {
    const { code, err } = await cli('result', 'no-such-workflow');
    expect(code).toBe(EXIT.usage);
    expect(err.join('\n')).toContain('no workflow with id "no-such-workflow"');
  });

  it('an unreachable server is a configuration error, exit 2 (as a real process)', async () => {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', 'x'], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      });
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (c) => resolve({ code: c, stderr }));
    });
    expect(code).toBe(EXIT.usage);
    expect(stderr).toContain('cannot reach Temporal at 127.0.0.1:1');
  });

  it('a usage error shows the one relevant usage line, not the whole page', async () => {
    const { code, err } = await cli('run', '--input', '{}');
    expect(code).toBe(EXIT.usage);
    const lines = err.join('\n').split('\n');
    expect(lines[0]).toBe('error: --model is required');
    expect(lines[1]).toMatch(/^usage: npm run -s client -- run --model REF --input JSON/);
    expect(lines.slice(2).join('\n')).toContain('run --help');
    expect(lines).toHaveLength(3);
  });

  it.each([
    [['--help'], 'pipeline run FILE'],
    [['help'], 'reconcile'],
    [['run', '--help'], 'run --model REF --input JSON'],
    [['start', '-h'], 'start --model REF --input JSON'],
    [['status', '--help'], 'status ID'],
    [['result', '--help'], 'result ID'],
    [['cancel', '--help'], 'cancel ID'],
    [['pipeline', '--help'], 'pipeline status ID'],
    [['pipeline', 'run', '--help'], 'pipeline run FILE'],
    [['pipeline', 'status', '--help'], 'pipeline status ID'],
    [['reconcile', '--help'], 'reconcile [--apply]'],
    [['help', 'run'], 'run --model REF --input JSON'],
  ])('%j prints its usage and exits 0', async (argv, line) => {
    const { code, out, err } = await cli(...argv);
    expect(code).toBe(EXIT.ok);
    expect(err).toEqual([]);
    expect(out.join('\n')).toContain(`npm run -s client -- ${line}`);
    if (argv[0] === 'run') {
      expect(out.join('\n')).toContain('--timeout'); // the flags explained
      expect(out.join('\n')).not.toContain('reconcile'); // and only this command's
    }
  });

  it('start prints the workflow id on stdout and the next commands on stderr', async () => {
    const { code, out, err } = await cli(
      'start',
      '--model',
      'sim/echo',
      '--input',
      '{}',
      '--workflow-id',
      'cli-next-1',
    );
    expect(code).toBe(EXIT.ok);
    expect(out).toEqual(['cli-next-1']);
    const hints = err.join('\n');
    for (const command of ['result', 'status', 'cancel'])
      expect(hints).toContain(`npm run -s client -- ${command} cli-next-1`);
  });

  it("a start the server refuses prints the server's reason (exit 2)", async () => {
    const client = new Client({ connection: bed.env.connection, namespace: 'no-such-namespace' });
    const { code, err } = await cliLive(
      bed,
      { client: async () => client },
      'start',
      '--model',
      'sim/echo',
      '--input',
      '{}',
    ).done;
    expect(code).toBe(EXIT.usage);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(
      /^error: cannot start workflow prediction-sim-echo-\w+: .*not found.*no-such-namespace/i,
    );
  });

  it('run against a task queue no worker polls says so (and how to start one) within the grace period; status says it too', async () => {
    const queue = `nobody-${randomUUID()}`;
    const id = `cli-noworker-${randomUUID()}`;
    const started = Date.now();
    const run = cliLive(
      bed,
      { taskQueue: queue, noWorkerWarningMs: 500 },
      ...['run', '--model', 'sim/echo', '--input', '{}', '--workflow-id', id],
    );
    await expect
      .poll(() => run.err.join('\n'), { timeout: 10_000 })
      .toContain(`no worker is polling task queue "${queue}"`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.err.join('\n')).toContain(`TEMPORAL_TASK_QUEUE=${queue} npm run worker`);

    const status = await cli('status', id);
    expect(status.code).toBe(EXIT.ok);
    expect(status.out.join('\n')).toContain(`no worker is polling task queue "${queue}"`);
    // the queue that has a worker is not reported
    expect((await cli('status', 'cli-next-1')).out.join('\n')).not.toContain('no worker');

    // B.9: a terminated run is reported as terminated, not timed_out
    await bed.env.client.workflow.getHandle(id).terminate('test over');
    const { code, err } = await within(10_000, 'run after terminate', run.done);
    expect(code).toBe(EXIT.failed);
    expect(err.join('\n')).toContain('terminated: ');
    const result = await cli('result', id, '--json');
    expect(result.code).toBe(EXIT.failed);
    expect(JSON.parse(result.out[0]!)).toMatchObject({
      status: 'terminated',
      error: { type: 'TerminatedFailure' },
    });
  });

  it('a terminated pipeline is reported as terminated', async () => {
    const id = `cli-pipe-term-${randomUUID()}`;
    const run = cliLive(bed, {}, 'pipeline', 'run', NEVER_SPEC, '--pipeline-id', id, '--json');
    await expect
      .poll(async () => (await bed.env.client.workflow.getHandle(id).describe()).status.name, {
        timeout: 10_000,
      })
      .toBe('RUNNING');
    await bed.env.client.workflow.getHandle(id).terminate('test over');
    const { code, out } = await within(10_000, 'pipeline run after terminate', run.done);
    expect(code).toBe(EXIT.failed);
    expect(JSON.parse(out[0]!) as PipelineSummary).toMatchObject({ status: 'terminated' });
  });

  it('Ctrl-C while run waits says the run continues and how to reattach', async () => {
    const id = `cli-ctrlc-${randomUUID()}`;
    const abort = new AbortController();
    const run = cliLive(
      bed,
      { signal: abort.signal },
      'run',
      '--model',
      'sim/never',
      '--input',
      '{}',
      '--workflow-id',
      id,
    );
    await expect.poll(() => run.out.join('\n'), { timeout: 10_000 }).toContain('creating');
    abort.abort();
    const { code, err } = await within(5_000, 'run after Ctrl-C', run.done);
    expect(code).toBe(130);
    expect(err.join('\n')).toContain(`the run continues on the server`);
    expect(err.join('\n')).toContain(`npm run -s client -- result ${id}`);
    const handle = bed.env.client.workflow.getHandle(id);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate('test over');
  });

  it('result on a terminal keeps one live line: elapsed time, polls and the latest log line', async () => {
    bed.sim.setModel('sim/logs', {
      startDelayMs: 0,
      durationMs: 3_000,
      logs: ['step one', 'step two', 'step three'],
      output: 'ok',
    });
    const handle = await bed.start({ model: 'sim/logs', input: {}, polling: FAST_POLLING });
    const live: (string | null)[] = [];
    const { code, out } = await cliLive(bed, { live: (line) => live.push(line) }, 'result', handle.workflowId)
      .done;
    expect(code).toBe(EXIT.ok);
    expect(
      live.filter(
        (l) => l !== null && /^ *\d+(\.\d)?s {2}processing .*polls? \d+ .*\| step (two|three)/.test(l),
      ),
    ).not.toHaveLength(0);
    expect(live.at(-1)).toBeNull(); // cleared before the outcome is printed
    expect(out.at(-1)).toBe('  ok');
  });

  it('result in a pipe prints plain lines: transitions and each new log line', async () => {
    const handle = await bed.start({ model: 'sim/logs', input: {}, polling: FAST_POLLING });
    const { code, out } = await cliOn(bed, 'result', handle.workflowId);
    expect(code).toBe(EXIT.ok);
    const text = out.join('\n');
    expect(text).toMatch(/processing {2}prediction [a-z0-9]{26}/);
    for (const log of ['step one', 'step two', 'step three']) expect(text).toContain(`| ${log}`);
    expect(text).not.toContain('\r');
  });
});
