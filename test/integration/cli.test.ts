/** The CLI contract: commands, flags, `--json` shape and exit codes, against a real server and worker. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, type RunSummary } from '../../src/client';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { startTestbed, type Testbed, cliOn } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
});
afterAll(async () => {
  await bed?.teardown();
});

const cli = (...argv: string[]) => cliOn(bed, ...argv);

/** The real entry point as a process: `tsx src/client.ts ...`. */
function cliProcess(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'client.ts'), ...argv],
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
      'metrics',
      'output',
      'predictionId',
      'status',
      'workflowId',
    ]);
    expect(summary).toMatchObject({ status: 'succeeded', output: { prompt: 'hi' }, error: null });
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
    expect(canceled.code).toBe(EXIT.failed);
    expect(JSON.parse(canceled.out[0]!)).toMatchObject({ status: 'canceled', predictionId: id });
    expect(bed.sim.counters(id).cancels).toBe(1);

    const result = await cli('result', 'cli-never-1', '--json');
    expect(result.code).toBe(EXIT.failed);
    expect(JSON.parse(result.out[0]!)).toMatchObject({ status: 'canceled' });
  });

  it.each([
    [['run', '--model', 'a/b', '--input', '{bad'], '--input is not valid JSON'],
    [['run', '--model', 'a/b', '--input', '[1]'], '--input must be a JSON object'],
    [['run', '--input', '{}'], '--model is required'],
    [['run', '--model', 'a/b'], '--input is required'],
    [['run', '--model', 'a/b', '--input', '{}', '--colour'], "Unknown option '--colour'"],
    [['run', '--model', 'a/b', '--input', '{}', '--timeout', '600'], '600s'],
    [['run', '--model', 'a/b', '--input', '{}', '--timeout', '2s'], 'out of range'],
    [['run', '--model', 'nope', '--input', '{}'], 'is not a model reference'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['status'], 'status takes one workflow id'],
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
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/client.ts', 'status', 'x'], {
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
});
