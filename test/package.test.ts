/**
 * The published package, as a user gets it: `npm pack`, install the tarball into a copy of examples/embed outside
 * the repository, type-check that app against the shipped .d.ts, then run it: the app's own workflow runs two
 * child `runPrediction`s and a child `runPipeline` on the app's own worker (its workflow bundle, our activities),
 * against the simulator, on a fresh dev server where our search attributes are NOT registered.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startDevServer, type DevServer } from '../src/dev/dev-server';
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
  for (const entry of ['index', 'workflows/index', 'activities/index', 'client/index', 'webhooks/index']) {
    expect(files).toContain(`package/lib/${entry}.js`);
    expect(files).toContain(`package/lib/${entry}.d.ts`);
  }
  expect(files).toContain('package/CHANGELOG.md');
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
    for await (const execution of client.workflow.list()) {
      const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('latin1');
      expect(raw).not.toContain(prompt);
      expect(raw).toContain('binary/encrypted');
      histories++;
    }
    expect(histories).toBe(creates.length + 2); // a run per prediction, the app's workflow and the pipeline
  } finally {
    await connection.close();
  }
}, 300_000);
