/**
 * `npm run demo` and the README's step-by-step recipe, as a new user runs them: real processes, bounded waits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { Client, Connection } from '@temporalio/client';
import { freePort, isTemporalUp, startDevServer } from '../../src/dev/dev-server';
import { sharedWorkflowBundlePath } from '../helpers/shared-bundle';

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const started: Proc[] = [];
afterEach(async () => {
  // stop whatever a failed test left running: its own process group, by id
  for (const p of started.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await p.exited;
  }
});

/** A command in its own process group, with stdout and stderr interleaved as the user would see them. */
function launch(command: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    detached: true,
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const proc = { child, output: () => text, exited };
  started.push(proc);
  return proc;
}

const demo = (args: string[], env: Record<string, string>) =>
  launch(process.execPath, ['--import', 'tsx', 'src/dev/demo.ts', ...args], {
    REPLICATE_API_TOKEN: '',
    OUTPUT_DIR: mkdtempSync(path.join(tmpdir(), 'demo-out-')),
    DEMO_DB_FILE: path.join(mkdtempSync(path.join(tmpdir(), 'demo-db-')), 'demo.db'),
    ...env,
  });

/**
 * The run's one workflow bundle (WORKFLOW_BUNDLE, as the image ships one) for the demos whose test is not about
 * starting from source: bundling takes seconds of CPU per demo. The encrypted demo and the README's recipe bundle
 * from source, as a new user's first run does.
 */
const PREBUILT = { WORKFLOW_BUNDLE: sharedWorkflowBundlePath() ?? '' };

it('npm run demo -- --help prints its usage at once, without starting anything', async () => {
  const t0 = Date.now();
  const p = demo(['--help'], { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` });
  expect(await p.exited).toBe(0);
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(p.output()).toContain('npm run demo -- --keep');
  expect(p.output()).toContain('npm run demo -- pipeline FILE');
  expect(p.output()).not.toContain('starting the Temporal dev server');
});

it('the demo prints the UI port it really uses; --keep keeps it up and Ctrl-C stops it cleanly', async () => {
  const port = await freePort();
  const p = demo(['--keep', '--model', 'sim/echo', '--input', '{"prompt":"x"}'], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    ...PREBUILT,
  });
  await expect.poll(p.output, { timeout: 90_000, interval: 200 }).toContain('press Ctrl-C to stop');
  const text = p.output();
  expect(text).toContain('succeeded');
  const uiUrls = new Set([...text.matchAll(/http:\/\/localhost:(\d+)/g)].map((m) => m[1]));
  expect(uiUrls.size).toBe(1); // every mention names the same UI port...
  const uiPort = [...uiUrls][0]!;
  const page = await fetch(`http://localhost:${uiPort}/`); // ...and the UI answers there
  expect(page.status).toBe(200);

  process.kill(p.child.pid!, 'SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.output()).not.toMatch(/IllegalStateError|Not running/);
  expect(p.output()).not.toContain('No workflows registered'); // the reads queue's Worker, by design
  expect(p.output()).toContain('[demo] stopped');
});

it('with ENCRYPTION_KEY the demo runs encrypted and its UI decodes through a loopback codec server', async () => {
  const port = await freePort();
  const key = randomBytes(32).toString('base64');
  const p = demo(['--keep', '--model', 'sim/echo', '--input', '{"prompt":"x"}'], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    ENCRYPTION_KEY: key,
  });
  await expect.poll(p.output, { timeout: 90_000, interval: 200 }).toContain('press Ctrl-C to stop');
  const text = p.output();
  expect(text).toContain('succeeded'); // the CLI in the demo decrypts the result
  expect(text).not.toContain(key);
  const codec = /the UI reads them through the codec server at (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
  expect(codec, text).toBeDefined();
  const uiPort = /UI http:\/\/localhost:(\d+)/.exec(text)![1]!;
  // the UI is configured with that endpoint (its settings API), and the codec server lets the UI's page in
  const settings = (await (await fetch(`http://localhost:${uiPort}/api/v1/settings`)).json()) as {
    Codec: { Endpoint: string };
  };
  expect(settings.Codec.Endpoint).toBe(codec);
  for (const origin of [`http://localhost:${uiPort}`, `http://127.0.0.1:${uiPort}`]) {
    const preflight = await fetch(`${codec}/decode`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.status, origin).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(origin);
  }
  process.kill(p.child.pid!, 'SIGINT');
  expect(await p.exited).toBe(0);
  expect(p.output()).toContain('[demo] stopped');
});

it('without --keep the demo says the UI goes away with it and how to keep it', async () => {
  const port = await freePort();
  const p = demo(['--model', 'sim/echo', '--input', '{"prompt":"x"}'], {
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    ...PREBUILT,
  });
  expect(await p.exited).toBe(0);
  expect(p.output()).toContain('npm run demo -- --keep');
});

it('on a server that is already running, the demo uses a task queue of its own and leaves the server up', async () => {
  const server = await startDevServer({ port: await freePort(), uiPort: null, searchAttributes: false });
  try {
    const p = demo(['--model', 'sim/echo', '--input', '{"prompt":"x"}'], {
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: '', // the default queue, where another worker (a real token?) may be polling
      ...PREBUILT,
    });
    expect(await p.exited).toBe(0);
    const text = p.output();
    const workflowId = /--workflow-id (demo-[0-9a-f]+)/.exec(text)?.[1];
    expect(workflowId).toBeDefined();
    const connection = await Connection.connect({ address: server.address });
    try {
      const description = await new Client({ connection }).workflow.getHandle(workflowId!).describe();
      expect(description.status.name).toBe('COMPLETED');
      expect(description.taskQueue).toMatch(/^demo-[0-9a-f]+$/);
      expect(text).toContain(`task queue ${description.taskQueue}`);
    } finally {
      await connection.close();
    }
    // it says what it stops, and only that: the server it found keeps running
    expect(text).toMatch(/stops what it started \(the simulator and the worker\)/);
    expect(text).not.toMatch(/stopped [^\n]*server/);
    expect(text).toContain(`the Temporal server at ${server.address} keeps running`);
    expect(await isTemporalUp(server.address)).toBe(true);
  } finally {
    await server.stop();
  }
}, 120_000);

/** The README's step-by-step block, one command per `# terminal N` comment. */
function readmeRecipe(): string[] {
  const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('# terminal 1'));
  if (!block) throw new Error('README has no step-by-step block with "# terminal 1"');
  const commands: string[] = [];
  let inTerminal = false;
  for (const line of block.split('\n')) {
    if (line.startsWith('#')) inTerminal = /^# terminal \d/.test(line);
    else if (inTerminal && line.trim()) commands.push(line.trim());
  }
  return commands;
}

it("the README's step-by-step recipe works on a fresh clone (no .temporal/), simulator included", async () => {
  const commands = readmeRecipe();
  expect(commands).toHaveLength(4);
  const [serverCmd, simCmd, workerCmd, clientCmd] = commands as [string, string, string, string];
  expect(serverCmd).toContain('.temporal/');
  expect(simCmd).toBe('npm run simulator');

  // Same commands on free ports, in a directory that does not exist yet (as .temporal/ on a fresh clone).
  const fresh = path.join(mkdtempSync(path.join(tmpdir(), 'clone-')), '.temporal');
  const temporalPort = await freePort();
  const simPort = await freePort();
  const queue = `recipe-${randomUUID()}`;
  const env = {
    TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
    TEMPORAL_TASK_QUEUE: queue,
    SIM_PORT: String(simPort),
  };
  const sh = (command: string) => launch('bash', ['-c', command], env);

  const server = sh(
    serverCmd
      .replaceAll('.temporal', fresh)
      .replace('.venv/bin/temporal', process.env.TEMPORAL_CLI_PATH ?? '.venv/bin/temporal')
      .concat(` --headless --port ${temporalPort}`),
  );
  const sim = sh(simCmd);
  await expect.poll(sim.output, { timeout: 30_000 }).toContain(`:${simPort}`);
  const worker = sh(workerCmd.replaceAll(':8787', `:${simPort}`));
  await expect
    .poll(worker.output, {
      timeout: 60_000,
      message: `worker: ${worker.output()}\nserver: ${server.output()}`,
    })
    .toContain(`worker polling task queue "${queue}"`);
  expect(server.child.exitCode).toBeNull();

  const client = sh(clientCmd);
  expect(await client.exited).toBe(0);
  expect(client.output()).toMatch(/succeeded {2}prediction/);
}, 120_000);
