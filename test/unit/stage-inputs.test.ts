/**
 * stageInputFiles past Replicate's files API limit: a chained input file over 100 MiB fails the step with a typed
 * error naming the limit, or becomes a presigned URL when the output store can make one (S3); small files become
 * data: URLs, checked against their recorded sha256.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { activitySetup } from '../../src/activities/context';
import { localOutputStore, type ManifestEntry, type OutputStore } from '../../src/activities/outputs';
import { MAX_UPLOAD_BYTES, stageInputFiles, type StagedInput } from '../../src/activities/stage-inputs';

const setup = activitySetup({ token: 'r8_test', baseUrl: 'http://127.0.0.1:9/v1' });
const entry = (bytes: number, sha256 = 'f'.repeat(64)): ManifestEntry => ({
  step: 'draw',
  index: 0,
  predictionId: 'p1',
  sourceUrl: 'https://replicate.delivery/x/out.png',
  path: 'draw/0-0.png',
  bytes,
  sha256,
  contentType: 'image/png',
});
const stage = (store: OutputStore, file: ManifestEntry): Promise<StagedInput> =>
  new MockActivityEnvironment().run(stageInputFiles, setup, store, {
    pipelineId: 'p',
    input: { image: file.sourceUrl, keep: 'this' },
    files: [file],
    inlineBudgetBytes: 500_000,
  });

describe('stageInputFiles', () => {
  it('a file over 100 MiB, with a folder store: InputFileTooLarge, naming the limit', async () => {
    const store = localOutputStore(mkdtempSync(path.join(tmpdir(), 'stage-')));
    const error = await stage(store, entry(MAX_UPLOAD_BYTES + 1)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe('InputFileTooLarge');
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).message).toContain('over the 100 MiB (104857600 bytes)');
  });

  it('a file over 100 MiB, with a store that presigns (S3): its presigned URL', async () => {
    const store: OutputStore = {
      ...localOutputStore(mkdtempSync(path.join(tmpdir(), 'stage-'))),
      presign: async (key, seconds) => `https://bucket.example/${key}?expires=${seconds}`,
    };
    const staged = await stage(store, entry(MAX_UPLOAD_BYTES + 1));
    expect(staged.input).toEqual({
      image: 'https://bucket.example/p/draw/0-0.png?expires=86400',
      keep: 'this',
    });
    expect(staged.staged).toEqual([
      { sourceUrl: entry(0).sourceUrl, as: 'presigned', bytes: MAX_UPLOAD_BYTES + 1 },
    ]);
  });

  it('a small file: a data: URL of the persisted copy, refused when the copy is not what was persisted', async () => {
    const store = localOutputStore(mkdtempSync(path.join(tmpdir(), 'stage-')));
    const bytes = Buffer.from('not really a png');
    await store.write('p/draw/0-0.png', bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const staged = await stage(store, entry(bytes.length, sha));
    expect(staged.input.image).toBe(`data:image/png;base64,${bytes.toString('base64')}`);
    const changed = await stage(store, entry(bytes.length)).then(
      () => undefined,
      (e: unknown) => e as ApplicationFailure,
    );
    expect(changed?.type).toBe('OutputUnavailable');
    expect(changed?.message).toContain('is not what was persisted (sha256 differs); rerun step draw');
  });
});
