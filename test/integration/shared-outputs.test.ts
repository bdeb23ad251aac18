/**
 * Shared output storage with a fleet: THREE workers (separate local OUTPUT_DIRs, the same OUTPUT_URL bucket) on one
 * dev server and task queue. A fan-out pipeline (examples/poster.yaml) puts every file and its manifest in the
 * bucket and nothing on the workers' disks; a claim-checked 3 MB output is stored in the bucket and printed whole
 * by the real CLI process (`run --json` with OUTPUT_URL). The S3 server is moto's, from PyPI (why:
 * test/helpers/s3-server.ts).
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ManifestEntry } from '../../src/activities/outputs';
import { folderName } from '../../src/activities/outputs';
import { EXIT, type PipelineSummary } from '../../src/cli';
import type { WorkerConfig } from '../../src/config';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { isClaimRef } from '../../src/shared/claims';
import type { PredictionResult } from '../../src/shared/types';
import { workerOptions } from '../../src/worker';
import { startS3Server, type S3Server } from '../helpers/s3-server';
import { cliLive, startTestbed, type Testbed } from '../helpers/testbed';
import { sharedWorkflowBundle } from '../helpers/shared-bundle';

const BUCKET = 'fleet-outputs';
const PREFIX = 'team/outputs';
const OUTPUT_URL = `s3://${BUCKET}/${PREFIX}`;
const HUGE = 'x'.repeat(3_000_000);

let bed: Testbed;
let s3: S3Server;
const queue = `fleet-${randomUUID()}`;
const localDirs: string[] = [];
const workers: Worker[] = [];
const connections: NativeConnection[] = [];
let running: Promise<void>[] = [];
const savedEnv: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  // The workers' S3 client reads the standard AWS environment, as a deployed worker's would.
  for (const [k, v] of Object.entries(s3.env)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  bed = await startTestbed();
  bed.sim.setModel('sim/huge', { startDelayMs: 100, durationMs: 500, output: HUGE });
  const workflowBundle = await sharedWorkflowBundle();
  for (let i = 0; i < 3; i++) {
    const outputDir = mkdtempSync(path.join(tmpdir(), `fleet-worker-${i}-`));
    localDirs.push(outputDir);
    const config: WorkerConfig = { ...bed.config, taskQueue: queue, outputDir, outputUrl: OUTPUT_URL };
    // one connection each, as separate hosts would have (the SDK refuses two workers of a queue on one)
    const connection = await NativeConnection.connect({ address: bed.config.address });
    connections.push(connection);
    const { workflowsPath: _path, ...options } = workerOptions(config, connection);
    workers.push(await Worker.create({ ...options, workflowBundle, identity: `fleet-worker-${i}` }));
  }
  running = workers.map((w) => w.run());
});
afterAll(async () => {
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  await Promise.all(running);
  for (const c of connections) await c.close();
  await bed?.teardown();
  await s3?.stop();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  for (const d of localDirs) rmSync(d, { recursive: true, force: true });
});

async function objectBytes(key: string): Promise<Buffer> {
  const got = await s3.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

/** Every file in the workers' own OUTPUT_DIRs. */
function localFiles(): string[] {
  return localDirs
    .flatMap((d) =>
      existsSync(d) ? readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()) : [],
    )
    .map((e) => path.join(e.parentPath, e.name));
}

it('three workers, one bucket: every file of a fan-out pipeline and its manifest land in the bucket, nothing on their disks', async () => {
  const pipelineId = `poster/${randomUUID().slice(0, 8)}`;
  const { code, out } = await cliLive(
    bed,
    { taskQueue: queue },
    'pipeline',
    'run',
    path.join(PROJECT_ROOT, 'examples', 'poster.yaml'),
    '--pipeline-id',
    pipelineId,
    '--json',
  ).done;
  expect(code).toBe(EXIT.ok);
  const summary = JSON.parse(out.at(-1)!) as PipelineSummary;
  expect(summary.status).toBe('succeeded');
  const folder = `${PREFIX}/${folderName(pipelineId)}`;
  expect(summary.manifest).toBe(`s3://${BUCKET}/${folder}/manifest.json`);

  const manifest = JSON.parse((await objectBytes(`${folder}/manifest.json`)).toString()) as {
    pipelineId: string;
    files: ManifestEntry[];
  };
  expect(manifest.pipelineId).toBe(pipelineId);
  expect(manifest.files).toHaveLength(4); // 2 generated + 2 upscaled (the caption is text)
  const listed = await s3.list(BUCKET, `${folder}/`);
  // the files, the manifest, and each run's record (what a rerun reuses)
  const records = ['generate/0', 'generate/1', 'upscale/0', 'upscale/1', 'caption/0'].map(
    (r) => `${folder}/.runs/${r}.json`,
  );
  expect(listed.map((o) => o.Key).sort()).toEqual(
    [...manifest.files.map((f) => f.key), `${folder}/manifest.json`, ...records].sort(),
  );
  for (const f of manifest.files) {
    expect(f.key).toBe(`${folder}/${f.path}`);
    expect(f.url).toBe(`s3://${BUCKET}/${f.key}`);
    expect(listed.find((o) => o.Key === f.key)?.Size).toBe(f.bytes);
    const bytes = await objectBytes(f.key!);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
  }
  expect(summary.steps.upscale!.files.sort()).toEqual(['upscale/0-0.png', 'upscale/1-0.png']);
  expect(localFiles()).toEqual([]);
});

it('a 3 MB output is claim-checked into the bucket and `run --json` (the CLI process, OUTPUT_URL set) prints it whole', async () => {
  const workflowId = `huge-${randomUUID()}`;
  const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(PROJECT_ROOT, 'src', 'cli', 'main.ts'),
        ...['run', '--model', 'sim/huge', '--input', '{}', '--json', '--workflow-id', workflowId],
      ],
      {
        cwd: PROJECT_ROOT,
        env: {
          ...process.env,
          ...s3.env,
          TEMPORAL_ADDRESS: bed.config.address,
          TEMPORAL_TASK_QUEUE: queue,
          OUTPUT_URL,
          OUTPUT_DIR: mkdtempSync(path.join(tmpdir(), 'fleet-cli-')), // not where the claim is: must not be read
          REPLICATE_API_TOKEN: bed.config.replicateToken, // the fleet's: the CLI checks the reference's signature
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  expect(cli.stderr).toBe('');
  expect(cli.code).toBe(EXIT.ok);
  const summary = JSON.parse(cli.stdout) as { status: string; output: string };
  expect(summary.status).toBe('succeeded');
  expect(summary.output.length).toBe(HUGE.length);
  expect(summary.output === HUGE).toBe(true);

  // the history carries the reference; the value is in the bucket under .claims/, named by its sha256
  const result = (await bed.env.client.workflow.getHandle(workflowId).result()) as PredictionResult;
  expect(isClaimRef(result.output)).toBe(true);
  const ref = result.output as { $claim: string; bytes: number };
  const key = `${PREFIX}/.claims/${ref.$claim.slice('sha256:'.length)}.json`;
  const [stored] = await s3.list(BUCKET, key);
  expect(stored?.Size).toBe(ref.bytes);
  expect(
    createHash('sha256')
      .update(await objectBytes(key))
      .digest('hex'),
  ).toBe(ref.$claim.slice(7));
  expect(localFiles()).toEqual([]);
});
