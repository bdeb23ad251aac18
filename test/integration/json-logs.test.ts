/**
 * LOG_FORMAT=json on real processes: a worker (`src/worker/main.ts`, with its embedded webhook receiver) runs two
 * predictions against the simulator (one started by the CLI process); every line it prints on stdout and stderr is
 * a JSON object, the creation line carries workflowId, runId, predictionId, model and attempt; the CLI prints its
 * diagnostics as JSON lines and its command output as before; the standalone receiver (`src/webhooks/main.ts`)
 * too. The token (a unique string) is in no line, even when a forged delivery carries it in a logged header.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { freePort } from '../../src/dev/dev-server';
import { FAST_POLLING, SECRET_TOKEN, startTestbed, type Testbed } from '../helpers/testbed';

let bed: Testbed;
beforeAll(async () => {
  bed = await startTestbed();
  bed.sim.setModel('sim/logs', { startDelayMs: 100, durationMs: 600, output: '$input' });
});
afterAll(async () => {
  await bed?.teardown();
});

interface Proc {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** A `tsx <entry>` process of this repository with LOG_FORMAT=json and the secret token in its environment. */
function start(entry: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      LOG_FORMAT: 'json',
      TEMPORAL_ADDRESS: bed.config.address,
      REPLICATE_API_TOKEN: SECRET_TOKEN,
      REPLICATE_BASE_URL: bed.sim.baseUrl,
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

type Line = Record<string, unknown>;

/** Every non-empty line as JSON (a line that is not JSON fails the test, quoted). */
function jsonLines(text: string): Line[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Line;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
}

const all = (p: Proc) => jsonLines(p.stdout() + '\n' + p.stderr());

/** A delivery no one signed, its webhook-id the token: rejected (401) and logged with the id, redacted. */
async function forgedDelivery(port: number, workflowId: string): Promise<number> {
  const response = await fetch(
    `http://127.0.0.1:${port}/webhooks/replicate?workflow=${encodeURIComponent(workflowId)}`,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': SECRET_TOKEN,
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,Zm9yZ2Vk',
      },
      body: JSON.stringify({ id: 'x', status: 'succeeded', token: SECRET_TOKEN }),
    },
  );
  return response.status;
}

it('worker, CLI and receivers print one JSON object per line with the known fields, and never the token', async () => {
  const taskQueue = `json-logs-${bed.config.taskQueue}`;
  const webhookPort = await freePort();
  const worker = start('src/worker/main.ts', [], {
    TEMPORAL_TASK_QUEUE: taskQueue,
    WEBHOOK_PORT: String(webhookPort),
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_BASE_URL: `http://127.0.0.1:${webhookPort}`, // the simulator delivers to the worker's receiver
    RECONCILE_EVERY: 'off',
    SHUTDOWN_GRACE_SECONDS: '5',
  });
  try {
    await expect
      .poll(() => worker.stdout() + worker.stderr(), { timeout: 90_000, interval: 200 })
      .toContain('worker polling task queue');

    // One prediction started here, one by the CLI process.
    const handle = await bed.start(
      { model: 'sim/logs', input: { n: 'json' }, polling: FAST_POLLING },
      { taskQueue },
    );
    const result = await handle.result();

    const cli = start('src/cli/main.ts', ['start', '--model', 'sim/logs', '--input', '{"n":"cli"}'], {
      TEMPORAL_TASK_QUEUE: taskQueue,
    });
    expect(await cli.exited).toBe(0);
    const startedId = cli.stdout().trim(); // the command's output stays as it was: the workflow id alone
    expect(startedId).toMatch(/^\S+$/);
    const hints = jsonLines(cli.stderr());
    expect(hints).toHaveLength(3); // the three `next:` lines, now log lines
    for (const hint of hints) {
      expect(hint).toMatchObject({
        level: 'INFO',
        component: 'cli',
        message: expect.stringContaining(startedId),
      });
      expect(typeof hint.time).toBe('string');
    }
    await bed.env.client.workflow.getHandle(startedId).result();

    // A CLI error is one JSON line on stderr (exit 2), nothing on stdout.
    const missing = start('src/cli/main.ts', ['status', 'no-such-run'], { TEMPORAL_TASK_QUEUE: taskQueue });
    expect(await missing.exited).toBe(2);
    expect(missing.stdout()).toBe('');
    expect(jsonLines(missing.stderr())).toEqual([
      expect.objectContaining({
        level: 'ERROR',
        component: 'cli',
        message: 'no workflow with id "no-such-run"',
      }),
    ]);

    // The worker's embedded receiver logs a forged delivery as a JSON line.
    expect(await forgedDelivery(webhookPort, handle.workflowId)).toBe(401);
    await expect
      .poll(() => worker.stderr(), { timeout: 10_000, interval: 100 })
      .toContain('webhook rejected');

    // The end of the CLI's run is logged too; then stop the worker and read everything it printed.
    await expect
      .poll(() => worker.stderr(), { timeout: 10_000, interval: 100 })
      .toMatch(new RegExp(`succeeded after [^\\n]*"workflowId":"${startedId}"`));
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);

    const lines = all(worker); // throws on any line that is not JSON
    for (const line of lines) {
      expect(Object.keys(line).slice(0, 3)).toEqual(['time', 'level', 'message']);
      expect(Number.isNaN(Date.parse(line.time as string))).toBe(false);
    }
    expect(lines.find((l) => /^worker polling task queue/.test(l.message as string))).toMatchObject({
      level: 'INFO',
      component: 'worker',
    });
    const runId = handle.firstExecutionRunId;
    const created = lines.find(
      (l) => l.activityType === 'createPrediction' && l.workflowId === handle.workflowId,
    );
    expect(created).toMatchObject({
      level: 'INFO',
      message: `prediction ${result.id} created for sim/logs`,
      workflowId: handle.workflowId,
      runId,
      workflowType: 'runPrediction',
      taskQueue,
      predictionId: result.id,
      model: 'sim/logs',
      attempt: 1,
    });
    // the workflow's own lines: its ids from the SDK, ours from the log call
    const workflowLines = lines.filter(
      (l) => l.workflowId === handle.workflowId && l.sdkComponent === 'workflow',
    );
    expect(workflowLines.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        `prediction ${result.id} created, status starting`,
        `prediction ${result.id} succeeded after ${result.polls} polls`,
      ]),
    );
    for (const l of workflowLines)
      expect(l).toMatchObject({ runId, predictionId: result.id, model: 'sim/logs' });
    expect(lines.find((l) => l.message === 'webhook rejected')).toMatchObject({
      level: 'WARN',
      component: 'webhooks',
      workflowId: handle.workflowId,
      webhookId: '***',
    });

    // The standalone receiver (`npm run webhooks`).
    const receiverPort = await freePort();
    const receiver = start('src/webhooks/main.ts', [], {
      WEBHOOK_PORT: String(receiverPort),
      WEBHOOK_HOST: '127.0.0.1',
      REPLICATE_WEBHOOK_SECRET: 'whsec_' + Buffer.from('json-logs-secret').toString('base64'),
    });
    try {
      await expect
        .poll(() => receiver.stdout(), { timeout: 30_000, interval: 100 })
        .toContain('webhook receiver on port');
      expect(await forgedDelivery(receiverPort, 'wf-forged')).toBe(401);
      await expect
        .poll(() => receiver.stderr(), { timeout: 10_000, interval: 100 })
        .toContain('webhook rejected');
    } finally {
      receiver.child.kill('SIGTERM');
      await receiver.exited;
    }
    expect(all(receiver)).toEqual([
      expect.objectContaining({
        level: 'INFO',
        component: 'webhooks',
        message: expect.stringMatching(/^webhook receiver on port/),
      }),
      expect.objectContaining({
        level: 'WARN',
        component: 'webhooks',
        message: 'webhook rejected',
        workflowId: 'wf-forged',
        webhookId: '***',
        reason: 'bad-signature',
      }),
    ]);

    for (const p of [worker, cli, missing, receiver]) {
      expect(p.stdout() + p.stderr()).not.toContain(SECRET_TOKEN);
    }
  } catch (error) {
    // say what the worker printed: the reason is usually there
    const tail = (worker.stdout() + worker.stderr()).split('\n').slice(-15).join('\n');
    throw new Error(`${(error as Error).message}\nthe worker's last lines:\n${tail}`, { cause: error });
  } finally {
    if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    await worker.exited;
  }
}, 150_000);
