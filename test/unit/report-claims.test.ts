/**
 * A pipeline report's large outputs (src/shared/claims.ts reportInline, src/activities/claims.ts
 * resolveReportOutputs, the storeClaim activity): which stay inline, and reading the others back.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { fileClaimStore, resolveReportOutputs } from '../../src/activities/claims';
import { createOutputActivities } from '../../src/activities/outputs';
import {
  ALWAYS_INLINE_OUTPUT_BYTES,
  MAX_REPORT_INLINE_OUTPUT_BYTES,
  isClaimRef,
  jsonBytes,
  reportInline,
  type ClaimRef,
} from '../../src/shared/claims';
import { flattenOutputs } from '../../src/shared/pipeline';

const kb = (n: number) => 'x'.repeat(n * 1024 - 2); // n KiB of JSON

describe('reportInline', () => {
  it('keeps outputs inline, in order, while the report holds at most 512 KiB of them', () => {
    expect(jsonBytes(kb(200))).toBe(200 * 1024);
    const { inline, usedBytes } = reportInline([kb(200), kb(200), kb(200), kb(100)], 0);
    expect(inline).toEqual([true, true, false, true]);
    expect(usedBytes).toBe(500 * 1024);
    // what other steps already hold counts
    expect(reportInline([kb(100)], MAX_REPORT_INLINE_OUTPUT_BYTES - 50 * 1024).inline).toEqual([false]);
  });

  it('tiny outputs and claim references stay inline however full the report is', () => {
    const ref = { $claim: `sha256:${'a'.repeat(64)}`, bytes: 300_000, note: 'n' };
    const url = 'https://replicate.delivery/x/out.png';
    expect(jsonBytes(url)).toBeLessThanOrEqual(ALWAYS_INLINE_OUTPUT_BYTES);
    const { inline, usedBytes } = reportInline([url, ref], MAX_REPORT_INLINE_OUTPUT_BYTES);
    expect(inline).toEqual([true, true]);
    expect(usedBytes).toBe(MAX_REPORT_INLINE_OUTPUT_BYTES);
  });
});

describe('storeClaim and resolveReportOutputs', () => {
  it('a stored output resolves to what the report would have listed inline (a list output flattened)', async () => {
    const claims = fileClaimStore(mkdtempSync(path.join(tmpdir(), 'report-claims-')));
    const { storeClaim } = createOutputActivities({ outputDir: tmpdir(), claims });
    const env = new MockActivityEnvironment();
    const list = ['a.png', null, 'b.png'];
    const text = kb(300);
    const listRef = { ...((await env.run(storeClaim, list)) as ClaimRef), flatten: true as const };
    const textRef = { ...((await env.run(storeClaim, text)) as ClaimRef), flatten: true as const };
    expect(isClaimRef(listRef) && isClaimRef(textRef)).toBe(true);
    // a run's own claim reference (no `flatten`) resolves to its value as one element
    const runRef = await claims.put(['c.png', 'd.png']);
    const gone = { $claim: `sha256:${'0'.repeat(64)}`, bytes: 1, note: 'missing', flatten: true as const };

    const report = flattenOutputs(['first.png', listRef, textRef, runRef, gone]);
    expect(await resolveReportOutputs(report, claims)).toEqual([
      'first.png',
      'a.png',
      'b.png', // as flattenOutputs(['a.png', null, 'b.png']) lists it
      text,
      ['c.png', 'd.png'],
      gone, // cannot be read here: left as it is
    ]);
  });
});
