/**
 * Output files are stored inert: a model chooses its outputs' bytes and their declared type, and whatever serves
 * the bucket (or the folder) must never hand a browser a script. Images, audio, video, JSON and plain text keep
 * their type; anything else (HTML, SVG, XML, JavaScript, a type we do not know) is stored as
 * `application/octet-stream` with `Content-Disposition: attachment`, under a harmless file extension, and the
 * manifest records the type stored. S3 through a real S3-compatible server (moto, test/helpers/s3-server.ts).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOutputActivities, outputStore, type ManifestEntry } from '../../src/activities/outputs';
import { startS3Server, type S3Server } from '../helpers/s3-server';

let s3: S3Server;
let files: Server;
let origin = '';
const dirs: string[] = [];
const BUCKET = 'inert-outputs';

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.domain)"/>';
/** What each URL answers: its body and its declared Content-Type. */
const SERVED: Record<string, [string, string]> = {
  '/out.svg': [SVG, 'image/svg+xml'],
  '/page.html': ['<script>alert(1)</script>', 'text/html; charset=utf-8'],
  '/disguised.png': ['<script>alert(2)</script>', 'text/html'],
  '/image.png': ['\x89PNG...', 'image/png'],
  '/clip.mp4': ['....', 'video/mp4'],
  '/data.json': ['{"a":1}', 'application/json; charset=utf-8'],
  '/notes.txt': ['hello', 'text/plain; charset=utf-8'],
  '/weights.safetensors': ['....', 'application/octet-stream'],
};

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  files = createServer((req, res) => {
    const served = SERVED[req.url ?? ''];
    if (!served) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': served[1] }).end(served[0]);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => files?.close(resolve));
  await s3?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const OUTPUT = () => [
  'data:text/html,<script>alert(document.cookie)</script>',
  `data:image/svg+xml;base64,${Buffer.from(SVG).toString('base64')}`,
  `${origin}/out.svg`,
  `${origin}/page.html`,
  `${origin}/disguised.png`,
  `${origin}/image.png`,
  `${origin}/clip.mp4`,
  `${origin}/data.json`,
  `${origin}/notes.txt`,
  'data:text/plain,hi',
  `${origin}/weights.safetensors`,
];

/** [stored type, file extension] for each output above, in order. */
const EXPECTED: [string, string][] = [
  ['application/octet-stream', '.bin'],
  ['application/octet-stream', '.bin'],
  ['application/octet-stream', '.bin'],
  ['application/octet-stream', '.bin'],
  ['application/octet-stream', '.png'],
  ['image/png', '.png'],
  ['video/mp4', '.mp4'],
  ['application/json', '.json'],
  ['text/plain', '.txt'],
  ['text/plain', '.txt'],
  ['application/octet-stream', '.safetensors'],
];

async function persist(store: string): Promise<ManifestEntry[]> {
  const local = mkdtempSync(path.join(tmpdir(), 'inert-'));
  dirs.push(local);
  const { persistOutputs } = createOutputActivities({
    store: store === 'folder' ? local : outputStore(store, s3.env),
    allowedOrigins: [origin],
  });
  const entries: ManifestEntry[] = await new MockActivityEnvironment().run(persistOutputs, {
    pipelineId: 'p',
    step: 'gen',
    index: 0,
    predictionId: 'pred',
    output: OUTPUT(),
  });
  return entries;
}

describe('stored output types', () => {
  it('the folder store: only inert types kept, the rest opaque under a harmless extension, the manifest says which', async () => {
    const entries = await persist('folder');
    expect(entries.map((e) => [e.contentType, path.extname(e.path)])).toEqual(EXPECTED);
    // the declared type is kept for the record when it was not stored as such
    expect(entries[3]).toMatchObject({ declaredContentType: 'text/html; charset=utf-8' });
    expect(entries[5]).not.toHaveProperty('declaredContentType');
    expect(readFileSync(entries[0]!.url!, 'utf8')).toBe('<script>alert(document.cookie)</script>'); // bytes as sent
  });

  it('S3: HTML and SVG are stored as application/octet-stream with Content-Disposition: attachment', async () => {
    const entries = await persist(`s3://${BUCKET}/run`);
    expect(entries.map((e) => [e.contentType, path.extname(e.path)])).toEqual(EXPECTED);
    const heads = await Promise.all(
      entries.map((e) => s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: e.key! }))),
    );
    expect(heads.map((h) => [h.ContentType, h.ContentDisposition ?? null])).toEqual(
      EXPECTED.map(([type]) => [type, type === 'application/octet-stream' ? 'attachment' : null]),
    );
  });
});
