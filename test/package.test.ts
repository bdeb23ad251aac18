/**
 * The published package, as a user gets it: `npm pack`, install the tarball into a copy of examples/embed outside
 * the repository, type-check that app against the shipped .d.ts, then run it: the app's own workflow runs two
 * child `runPrediction`s and a child `runPipeline` on the app's own worker (its workflow bundle, our activities),
 * against the simulator, on a fresh dev server where our search attributes are NOT registered. Then the package's
 * CLI (`npx replicate-temporal`): its help, its worker and a run.
 */
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, isPortFree, startDevServer, type DevServer } from '../src/dev/dev-server';
import { ReplicateSimulator } from '../simulator';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..');
const TOKEN = 'sim-package-token-3b9f';

let work: string;
let app: string;
let tarball: string;
let server: DevServer;
const sim = new ReplicateSimulator({ token: TOKEN });

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-pack-'));
  // `npm pack` runs the `prepack` build: compiled JavaScript and .d.ts under lib/
  const packed = await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT });
  tarball = path.join(work, packed.stdout.trim().split('\n').at(-1)!);
  app = path.join(work, 'app');
  cpSync(path.join(ROOT, 'examples', 'embed'), app, { recursive: true });
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball], {
    cwd: app,
  });
  await sim.start();
  server = await startDevServer({ port: await freePort(), uiPort: null, searchAttributes: false });
}, 300_000);

afterAll(async () => {
  await server?.stop();
  await sim.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

it('ships compiled JavaScript, types and docs, and neither sources, tests nor the simulator', async () => {
  const { stdout } = await run('tar', ['-tzf', tarball]);
  const files = stdout.split('\n').filter(Boolean);
  for (const entry of [
    'index',
    'workflows/index',
    'activities/index',
    'client/index',
    'webhooks/index',
    'web/index',
  ]) {
    expect(files).toContain(`package/lib/${entry}.js`);
    expect(files).toContain(`package/lib/${entry}.d.ts`);
  }
  // the web page's script, compiled by the build: the page serves it from there
  expect(files).toContain('package/lib/web/browser/live.js');
  expect(files).toContain('package/CHANGELOG.md');
  expect(files).toContain('package/schemas/pipeline.schema.json'); // for editors: yaml-language-server
  expect(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  expect(files.filter((f) => /simulator|\/test\/|demo/.test(f))).toEqual([]);
  const manifest = JSON.parse(
    readFileSync(path.join(app, 'node_modules/replicate-temporal/package.json'), 'utf8'),
  );
  expect(Object.keys(manifest.exports)).toEqual([
    '.',
    './workflows',
    './activities',
    './client',
    './webhooks',
    './web',
    './pipeline.schema.json',
    './package.json',
  ]);
});

it("type-checks the user's app against the shipped types", async () => {
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  const result = await run(tsc, ['-p', app]).catch((error: { stdout: string }) => error);
  expect(result.stdout).toBe('');
});

it("runs the user's workflow: two child predictions and a child pipeline, on the user's worker, encrypted", async () => {
  const outputDir = path.join(work, 'outputs');
  const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
  const prompt = `a red bicycle ${randomBytes(4).toString('hex')}`;
  const { stdout } = await run(tsx, [path.join(app, 'src', 'main.ts'), prompt], {
    cwd: app,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: server.address,
      TASK_QUEUE: 'embed-test',
      REPLICATE_API_TOKEN: TOKEN,
      REPLICATE_BASE_URL: sim.baseUrl,
      OUTPUT_DIR: outputDir,
      // the shipped createDataConverter: its failure converter is loaded from lib/ by path, in the app's bundle too
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    },
    timeout: 240_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    image: string;
    caption: string;
    poster: { path: string; files: { path: string; bytes: number }[] };
  };
  // The image came from the simulator; the caption model was given that image.
  expect(result.image).toMatch(new RegExp(`^${sim.origin}/files/.+\\.png$`));
  expect(typeof result.caption).toBe('string');
  const captionRun = sim.requests.find(
    (r) => r.route === 'models.predictions.create' && r.path.includes('salesforce/blip'),
  );
  expect((captionRun?.body as { input: { image: string } }).input.image).toBe(result.image);
  // The pipeline persisted 2 images and 2 upscales with a manifest, under the app's OUTPUT_DIR.
  expect(result.poster.files).toHaveLength(4);
  expect(existsSync(result.poster.path)).toBe(true);
  expect(result.poster.path.startsWith(outputDir)).toBe(true);
  const written = readdirSync(path.dirname(result.poster.path), { recursive: true });
  expect(written.filter((f) => String(f).endsWith('.png'))).toHaveLength(4);
  // 1 + 1 + 4 predictions, each created once, none canceled.
  const creates = sim.requests.filter((r) => r.route.endsWith('predictions.create') && r.status === 201);
  expect(creates).toHaveLength(6);
  expect(sim.requests.filter((r) => r.route === 'predictions.cancel')).toHaveLength(0);
  // ENCRYPTION_KEY: the prompt went to Replicate, and to Temporal only encrypted (every run's history, raw)
  expect(JSON.stringify(sim.requests.map((r) => r.body))).toContain(prompt);
  const connection = await Connection.connect({ address: server.address });
  try {
    const client = new Client({ connection });
    let histories = 0;
    let claims = 0;
    for await (const execution of client.workflow.list()) {
      if (execution.type === 'replicateClaim') claims++;
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
      expect(raw).not.toContain(prompt);
      expect(raw).toContain('binary/encrypted');
      histories++;
    }
    // a run and its claim (replicate-claim:<prediction id>) per prediction, the app's workflow and the pipeline
    expect(claims).toBe(creates.length);
    expect(histories).toBe(2 * creates.length + 2);
  } finally {
    await connection.close();
  }
}, 300_000);

/** The README's "Use it in your own Temporal app": each code block after an `<!-- app: PATH -->` marker, as it stands. */
function readmeApp(): Map<string, string> {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const files = new Map<string, string>();
  for (const m of readme.matchAll(/<!-- app: (\S+) -->\s*```\w*\n([\s\S]*?)```/g)) files.set(m[1]!, m[2]!);
  return files;
}

it("the README's app works verbatim on a fresh server: its workflow's child prediction, then predict()", async () => {
  const files = readmeApp();
  expect([...files.keys()]).toEqual(['install', 'tsconfig.json', 'src/workflows.ts', 'src/main.ts']);
  // the install line names the package, every peer dependency it needs, and what runs TypeScript
  const words = new Set(files.get('install')!.split(/\s+/));
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    peerDependencies: Record<string, string>;
  };
  for (const name of ['replicate-temporal', ...Object.keys(manifest.peerDependencies), 'typescript', 'tsx'])
    expect(words, name).toContain(name);

  // the files, in a folder of the installed app (its node_modules: the tarball and the peers)
  const dir = path.join(app, 'readme');
  for (const [file, text] of files) {
    if (file === 'install') continue;
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  const checked = await run(tsc, ['-p', dir]).catch((error: { stdout: string }) => error);
  expect(checked.stdout).toBe('');

  // a server that has never seen our search attributes
  const fresh = await startDevServer({ port: await freePort(), uiPort: null, searchAttributes: false });
  try {
    const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
    const { stdout } = await run(tsx, [path.join(dir, 'src', 'main.ts')], {
      cwd: dir,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: fresh.address,
        REPLICATE_API_TOKEN: TOKEN,
        REPLICATE_BASE_URL: sim.baseUrl,
      },
      timeout: 180_000,
    });
    const image = /^image: (\S+)$/m.exec(stdout)?.[1];
    expect(image).toMatch(new RegExp(`^${sim.origin}/files/.+\\.png$`));
    expect(stdout).toMatch(/^caption: succeeded \S/m);
    const caption = sim.requests
      .filter((r) => r.route === 'models.predictions.create' && r.path.includes('salesforce/blip'))
      .at(-1);
    expect((caption?.body as { input: { image: string } }).input.image).toBe(image);
  } finally {
    await fresh.stop();
  }
}, 240_000);

/** `npx <args>` in the app, in its own process group (`--no --`: the app's own bin, never the registry). */
function npx(args: string[], env: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
  return spawn('npx', ['--no', '--', ...args], { cwd: app, env: { ...process.env, ...env }, detached: true });
}

/** Exit code and output of a process, once it has closed. */
function closed(
  child: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

it('npx replicate-temporal: its help, a worker from the package, a real run and cancel through the CLI, the web page', async () => {
  const env = {
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_TASK_QUEUE: 'npx-cli',
    REPLICATE_API_TOKEN: TOKEN,
    REPLICATE_BASE_URL: sim.baseUrl,
    OUTPUT_DIR: path.join(work, 'npx-outputs'),
    RECONCILE_EVERY: 'off',
  };
  const help = await closed(npx(['replicate-temporal', '--help'], env));
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('npx replicate-temporal run --model REF --input JSON');
  expect(help.stdout).toContain('npx replicate-temporal worker');

  const worker = npx(['replicate-temporal', 'worker'], env);
  const workerDone = closed(worker);
  let workerOut = '';
  worker.stdout.on('data', (c: Buffer) => (workerOut += c.toString()));
  try {
    await expect
      .poll(() => workerOut, { timeout: 120_000, interval: 200 })
      .toContain('worker polling task queue "npx-cli"');
    const ran = await closed(
      npx(
        [
          'replicate-temporal',
          'run',
          '--model',
          'sim/echo',
          '--input',
          '{"prompt":"from npx"}',
          '--workflow-id',
          'npx-1',
          '--json',
        ],
        env,
      ),
    );
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({ workflowId: 'npx-1', status: 'succeeded' });
    const cancel = await closed(npx(['replicate-temporal', 'cancel', 'npx-1'], env));
    expect(cancel.code).toBe(0);
    expect(cancel.stdout.trim()).toBe('workflow npx-1 had already ended (succeeded): nothing to cancel');

    // the web page from the package: its compiled script, and the run's page
    const webPort = await freePort();
    const web = npx(['replicate-temporal', 'web'], { ...env, WEB_PORT: String(webPort) });
    const webDone = closed(web);
    let webOut = '';
    web.stdout.on('data', (c: Buffer) => (webOut += c.toString()));
    try {
      await expect.poll(() => webOut, { timeout: 60_000, interval: 200 }).toContain('web page on');
      const origin = `http://127.0.0.1:${webPort}`;
      const script = await fetch(`${origin}/assets/live.js`);
      expect(script.status).toBe(200);
      const js = await script.text();
      expect(js).toContain('EventSource');
      expect(js).not.toMatch(/\bexports\b|\brequire\(/); // a browser script, not a CommonJS module
      const page = await fetch(`${origin}/runs/npx-1`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<span class="badge s-succeeded">succeeded</span>');
    } finally {
      process.kill(-web.pid!, 'SIGINT'); // npx and the page: Ctrl-C stops it
      await webDone;
      expect(await isPortFree(webPort)).toBe(true);
    }
  } finally {
    process.kill(-worker.pid!, 'SIGTERM'); // npx and the worker: the worker drains, then exits
    await workerDone;
  }
}, 240_000);
