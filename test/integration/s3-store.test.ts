/**
 * The S3 output store (src/activities/output-files/s3.ts) against a real S3-compatible server on this machine:
 * moto's server mode from PyPI (why moto: test/helpers/s3-server.ts). Puts, a streamed multipart upload and its
 * sha256, reads, a failing source leaving nothing behind, keys confined under the prefix, claim checks in the
 * bucket, persistOutputs/writeManifest writing only to the bucket (origins checked, resume on retry), OUTPUT_URL.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIN_CLAIM_RETENTION_MS, pruneClaims } from '../../src/activities/claim-retention';
import { storeClaimStore } from '../../src/activities/claims';
import { readAll } from '../../src/activities/output-files/store';
import {
  createOutputActivities,
  outputStore,
  parseOutputUrl,
  type ManifestEntry,
  type OutputStore,
} from '../../src/activities/outputs';
import { ConfigError, readWorkerConfig } from '../../src/config';
import { startS3Server, type S3Server } from '../helpers/s3-server';

let s3: S3Server;
let files: Server;
let filesOrigin = '';
const hits: string[] = [];
const BUCKET = 'outputs-unit';
const MiB = 1024 * 1024;

/** `n` bytes of a repeatable pattern, in 64 KiB chunks (never one buffer of the whole size). */
function pattern(n: number): { stream: () => Readable; sha256: string } {
  const chunk = Buffer.alloc(64 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) % 251;
  const hash = createHash('sha256');
  for (let left = n; left > 0; left -= chunk.length)
    hash.update(chunk.subarray(0, Math.min(left, chunk.length)));
  return {
    sha256: hash.digest('hex'),
    stream: () =>
      Readable.from(
        (function* () {
          for (let left = n; left > 0; left -= chunk.length)
            yield chunk.subarray(0, Math.min(left, chunk.length));
        })(),
      ),
  };
}

const BIG = pattern(12 * MiB + 123); // three 5 MiB parts
const dirs: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  await s3.createBucket(BUCKET);
  files = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url === '/big.bin') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      BIG.stream().pipe(res);
    } else if (req.url?.startsWith('/small/')) {
      res.writeHead(200, { 'content-type': 'image/png' }).end(req.url);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesOrigin = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => files?.close(resolve));
  await s3?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const store = (prefix: string): OutputStore => outputStore(`s3://${BUCKET}/${prefix}`, s3.env);
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

describe('S3 output store', () => {
  it('puts an object under the prefix, reads it back, and reports its size and sha256', async () => {
    const st = store('put-test/nested');
    expect(st.location).toBe(`s3://${BUCKET}/put-test/nested`);
    const written = await st.write('a/b.txt', 'hello', { contentType: 'text/plain' });
    expect(written).toEqual({ bytes: 5, sha256: sha('hello') });
    expect(st.objectKey('a/b.txt')).toBe('put-test/nested/a/b.txt');
    expect(st.locate('a/b.txt')).toBe(`s3://${BUCKET}/put-test/nested/a/b.txt`);
    expect(await st.size('a/b.txt')).toBe(5);
    expect((await readAll(st, 'a/b.txt'))?.toString()).toBe('hello');
    expect(await st.size('a/missing.txt')).toBeNull();
    expect(await st.read('a/missing.txt')).toBeNull();
    const listed = await s3.list(BUCKET, 'put-test/');
    expect(listed.map((o) => [o.Key, o.Size])).toEqual([['put-test/nested/a/b.txt', 5]]);
  });

  it('streams a multi-part-sized file as a multipart upload, hashing it on the way', async () => {
    const st = store('multipart');
    const written = await st.write('big.bin', BIG.stream());
    expect(written).toEqual({ bytes: 12 * MiB + 123, sha256: BIG.sha256 });
    const [object] = await s3.list(BUCKET, 'multipart/');
    expect(object?.Size).toBe(12 * MiB + 123);
    expect(object?.ETag).toMatch(/-3"?$/); // S3's ETag of a multipart object ends with its part count
    const back = createHash('sha256');
    for await (const chunk of (await st.read('big.bin'))!) back.update(chunk as Buffer);
    expect(back.digest('hex')).toBe(BIG.sha256);
  });

  it('a source that fails mid-stream: its error is thrown, no object appears and no upload is left open', async () => {
    const st = store('failing');
    const boom = new Error('source broke');
    const source = Readable.from(
      (function* () {
        yield Buffer.alloc(6 * MiB, 1); // past the first part
        throw boom;
      })(),
    );
    await expect(st.write('broken.bin', source)).rejects.toBe(boom);
    expect(await s3.list(BUCKET, 'failing/')).toEqual([]);
    const open = await s3.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'failing/' }),
    );
    expect(open.Uploads ?? []).toEqual([]);
  });

  it('keys stay under the prefix: no empty, "." or ".." segments', async () => {
    const st = store('confined');
    for (const bad of ['../x', 'a/../../x', '/abs', 'a//b', '.', 'a/./b', 'a\\..\\b'])
      await expect(st.write(bad, 'x'), bad).rejects.toThrow(/not an output key/);
    expect(await s3.list(BUCKET, 'confined')).toEqual([]);
    expect(() => st.locate('..')).toThrow(/not an output key/);
  });

  it('claim retention in the bucket: lists the claims, deletes those past the retention, reports the size', async () => {
    const st = store('retention');
    const claims = storeClaimStore(st);
    const a = await claims.put({ a: 'x'.repeat(100) });
    await claims.put({ b: 1 });
    await st.write('.claims/not-a-claim.txt', 'keep');
    await st.write('pipeline/manifest.json', '{}');
    const now = await pruneClaims(st, { retentionMs: MIN_CLAIM_RETENTION_MS });
    expect(now).toEqual({ kept: { count: 2, bytes: a.bytes + 7 }, pruned: { count: 0, bytes: 0 } });
    // a month from now every claim is past the retention; what is not a claim stays
    const later = await pruneClaims(st, {
      retentionMs: MIN_CLAIM_RETENTION_MS,
      nowMs: Date.now() + 30 * 24 * 3_600_000,
    });
    expect(later).toEqual({ kept: { count: 0, bytes: 0 }, pruned: { count: 2, bytes: a.bytes + 7 } });
    expect((await s3.list(BUCKET, 'retention/')).map((o) => o.Key).sort()).toEqual([
      'retention/.claims/not-a-claim.txt',
      'retention/pipeline/manifest.json',
    ]);
  });

  it('claim checks in the bucket: put, get, and a tampered object is refused', async () => {
    const st = store('claims-test');
    const claims = storeClaimStore(st);
    const value = { text: 'y'.repeat(300_000) };
    const ref = await claims.put(value);
    expect(ref.$claim).toBe(`sha256:${sha(JSON.stringify(value))}`);
    const listed = await s3.list(BUCKET, 'claims-test/');
    expect(listed.map((o) => o.Key)).toEqual([`claims-test/.claims/${ref.$claim.slice(7)}.json`]);
    expect(await claims.get(ref)).toEqual(value);
    await s3.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: listed[0]!.Key!,
        Body: JSON.stringify({ text: 'forged' }),
      }),
    );
    await expect(claims.get(ref)).rejects.toThrow(/does not match its stored content/);
    await expect(claims.get({ ...ref, $claim: `sha256:${'0'.repeat(64)}` })).rejects.toThrow(
      `is not in s3://${BUCKET}/claims-test`,
    );
  });
});

describe('persistOutputs and writeManifest on S3', () => {
  const outputs = (prefix: string) => {
    const localDir = mkdtempSync(path.join(tmpdir(), 's3-store-local-'));
    dirs.push(localDir);
    return {
      localDir,
      activities: createOutputActivities({
        store: store(prefix),
        outputDir: localDir, // ignored when a store is given: nothing may land here
        allowedOrigins: [filesOrigin],
      }),
    };
  };
  const args = (output: unknown, pipelineId = 'p-1') => ({
    pipelineId,
    step: 'gen',
    index: 0,
    predictionId: 'pred-1',
    output,
  });

  it('persists files (one of them multipart) and the manifest in the bucket, keys from the folder mapping', async () => {
    const { localDir, activities } = outputs('persist');
    hits.length = 0;
    const env = new MockActivityEnvironment();
    const id = '../evil pipeline';
    const entries: ManifestEntry[] = await env.run(
      activities.persistOutputs,
      args([`${filesOrigin}/small/a.png`, `${filesOrigin}/big.bin`, 'data:text/plain;base64,aGk='], id),
    );
    const folder = '%2E%2E%2Fevil%20pipeline';
    expect(entries.map((e) => [e.path, e.key, e.url])).toEqual([
      ['gen/0-0.png', `persist/${folder}/gen/0-0.png`, `s3://${BUCKET}/persist/${folder}/gen/0-0.png`],
      ['gen/0-1.bin', `persist/${folder}/gen/0-1.bin`, `s3://${BUCKET}/persist/${folder}/gen/0-1.bin`],
      ['gen/0-2.txt', `persist/${folder}/gen/0-2.txt`, `s3://${BUCKET}/persist/${folder}/gen/0-2.txt`],
    ]);
    expect(entries[1]).toMatchObject({ bytes: 12 * MiB + 123, sha256: BIG.sha256 });
    expect(entries[2]).toMatchObject({ bytes: 2, sha256: sha('hi'), contentType: 'text/plain' });
    const manifest: string = await env.run(activities.writeManifest, id, { files: entries });
    expect(manifest).toBe(`s3://${BUCKET}/persist/${folder}/manifest.json`);
    const listed = await s3.list(BUCKET, 'persist/');
    expect(listed.map((o) => o.Key).sort()).toEqual(
      [...entries.map((e) => e.key), `persist/${folder}/manifest.json`].sort(),
    );
    for (const e of entries) expect(listed.find((o) => o.Key === e.key)?.Size).toBe(e.bytes);
    expect(existsSync(path.join(localDir, folder))).toBe(false);
  });

  it('a retry keeps the files verified in the bucket and downloads only the rest', async () => {
    const { activities } = outputs('resume');
    const output = [`${filesOrigin}/small/1.png`, `${filesOrigin}/small/2.png`];
    const first: ManifestEntry[] = await new MockActivityEnvironment().run(
      activities.persistOutputs,
      args(output),
    );
    hits.length = 0;
    const retried = new MockActivityEnvironment({
      attempt: 2,
      heartbeatDetails: { done: [first[0]!, { ...first[1]!, sha256: '0'.repeat(64) }] },
    });
    const again: ManifestEntry[] = await retried.run(activities.persistOutputs, args(output));
    expect(hits).toEqual(['/small/2.png']); // the first is in the bucket with its size and hash; the second is not
    expect(again).toEqual(first);
  });

  it('an output off the allowed origins fails before anything is fetched or stored', async () => {
    const { activities } = outputs('ssrf');
    hits.length = 0;
    const failure = await new MockActivityEnvironment()
      .run(activities.persistOutputs, args([`${filesOrigin}/small/ok.png`, 'http://169.254.169.254/latest']))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe('OutputOriginNotAllowed');
    expect(hits).toEqual([]);
    expect(await s3.list(BUCKET, 'ssrf/')).toEqual([]);
  });
});

describe('OUTPUT_URL', () => {
  it('accepts s3://bucket[/prefix] and refuses anything else with one line naming the problem', () => {
    expect(
      readWorkerConfig({ REPLICATE_API_TOKEN: 't', OUTPUT_URL: 's3://my-bucket/team/a/' }).outputUrl,
    ).toBe('s3://my-bucket/team/a/');
    expect(parseOutputUrl('s3://my-bucket/team/a/')).toEqual({ bucket: 'my-bucket', prefix: 'team/a' });
    expect(parseOutputUrl('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 't' }).outputUrl).toBeUndefined();
    for (const [bad, why] of [
      ['https://bucket.s3.amazonaws.com/x', /only s3:\/\/bucket\[\/prefix\] is/],
      ['file:///tmp/outputs', /only s3:\/\/bucket\[\/prefix\] is/],
      ['s3://', /names no bucket/],
      ['s3:///prefix', /names no bucket/],
      ['s3://My_Bucket', /invalid bucket/],
      ['s3://key:secret@bucket', /credentials/],
      ['s3://bucket/a/../b', /invalid prefix/],
      ['s3://bucket?x=1', /query/],
      ['bucket/prefix', /is not a URL/],
    ] as const) {
      let error: unknown;
      try {
        readWorkerConfig({ REPLICATE_API_TOKEN: 't', OUTPUT_URL: bad });
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message, bad).toMatch(why);
      expect(message.startsWith(`OUTPUT_URL="${bad}"`), message).toBe(true);
      expect(message.includes('\n'), message).toBe(false);
    }
  });
});
