/**
 * The claim store's retention: claims older than CLAIM_RETENTION (default 240h; never below the longest run, 168h)
 * are deleted, younger ones and anything that is not a claim are kept, and each pass reports the store's size.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { claimStoreReport, pruneClaims } from '../../src/activities/claim-retention';
import { localOutputStore } from '../../src/activities/output-files/store';
import { ConfigError, readWorkerConfig } from '../../src/config';

const root = mkdtempSync(path.join(tmpdir(), 'claim-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const HOUR = 3_600_000;
const hex = (c: string) => c.repeat(64);

function claim(dir: string, name: string, bytes: number, ageMs: number): void {
  const file = path.join(dir, name);
  writeFileSync(file, 'x'.repeat(bytes));
  const at = new Date(Date.now() - ageMs);
  utimesSync(file, at, at);
}

describe('pruneClaims', () => {
  it('deletes claims older than the retention, keeps the rest, and reports both', async () => {
    const dir = path.join(root, 'store');
    const claims = path.join(dir, '.claims');
    mkdirSync(claims, { recursive: true });
    claim(claims, `${hex('a')}.json`, 1000, 30 * 24 * HOUR); // old: pruned
    claim(claims, `${hex('b')}.json`, 200, 9 * 24 * HOUR); // younger than 240h: kept
    claim(claims, `${hex('c')}.json`, 30, HOUR);
    claim(claims, 'notes.txt', 5, 30 * 24 * HOUR); // not a claim: never touched
    mkdirSync(path.join(dir, 'pipeline-1'), { recursive: true });
    claim(path.join(dir, 'pipeline-1'), 'manifest.json', 10, 30 * 24 * HOUR); // outside .claims: never touched

    const report = await pruneClaims(localOutputStore(dir), { retentionMs: 240 * HOUR });
    expect(report).toMatchObject({ pruned: { count: 1, bytes: 1000 }, kept: { count: 2, bytes: 230 } });
    expect(readdirSync(claims).sort()).toEqual([`${hex('b')}.json`, `${hex('c')}.json`, 'notes.txt']);
    expect(readdirSync(path.join(dir, 'pipeline-1'))).toEqual(['manifest.json']);
    expect(claimStoreReport(report, 240 * HOUR)).toBe(
      'claim store: 2 claims, 230 bytes kept; 1 claim of 1000 bytes older than 240h deleted (CLAIM_RETENTION)',
    );
  });

  it('an empty or missing store is fine', async () => {
    const report = await pruneClaims(localOutputStore(path.join(root, 'none')), { retentionMs: 240 * HOUR });
    expect(report).toMatchObject({ pruned: { count: 0, bytes: 0 }, kept: { count: 0, bytes: 0 } });
  });
});

describe('CLAIM_RETENTION', () => {
  const base = { REPLICATE_API_TOKEN: 't' };
  it('defaults to 240h, takes a duration of at least the longest run (168h), or off', () => {
    expect(readWorkerConfig(base).claimRetentionMs).toBe(240 * HOUR);
    expect(readWorkerConfig({ ...base, CLAIM_RETENTION: '720h' }).claimRetentionMs).toBe(720 * HOUR);
    expect(readWorkerConfig({ ...base, CLAIM_RETENTION: 'off' }).claimRetentionMs).toBeNull();
    for (const bad of ['100h', '24h', 'soon', '1e9h', '0']) {
      expect(() => readWorkerConfig({ ...base, CLAIM_RETENTION: bad }), bad).toThrow(ConfigError);
      expect(() => readWorkerConfig({ ...base, CLAIM_RETENTION: bad }), bad).toThrow(
        /^CLAIM_RETENTION=".*" must be a duration of at least 168h \(the longest run\)/,
      );
    }
  });
});
