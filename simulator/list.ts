/**
 * GET /v1/predictions and GET /v1/trainings (§9): newest first, `created_after` (inclusive) /
 * `created_before` (exclusive) filters, cursor pagination with ABSOLUTE `next`/`previous` URLs that keep the
 * filters; null at the ends. The cursor is opaque base64 like DRF's CursorPagination (`p=<position>`, `r=1`
 * for reverse). `paginate` does the same for GET /v1/files.
 */
import type { SimContext } from './context';
import { problem } from './http';
import type { Prediction, RunKind } from './models';
import { createdAtMicros, leanView, parseIsoMicros } from './timeline';

export interface Page {
  next: string | null;
  previous: string | null;
  results: Prediction[];
}

export function listRuns(
  ctx: Pick<SimContext, 'store' | 'pageSize' | 'baseUrl' | 'lean'>,
  params: URLSearchParams,
  kind: RunKind,
): Page {
  const { store, pageSize } = ctx;
  const filters = new URLSearchParams();
  const bound = (name: string): number | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    filters.set(name, v);
    const us = parseIsoMicros(v);
    if (Number.isNaN(us)) throw problem(400, 'Bad Request', `${name}: Enter a valid date/time.`);
    return us;
  };
  const after = bound('created_after');
  const before = bound('created_before');
  const source = params.get('source');
  if (source !== null) filters.set('source', source);

  // Newest first.
  let all = store
    .runs(kind)
    .filter((e) => {
      const us = createdAtMicros(e.rec);
      return (after === undefined || us >= after) && (before === undefined || us < before);
    })
    .reverse();
  if (source === 'web') all = []; // every simulated prediction comes from the API

  const page = paginate(
    all,
    (e) => e.rec.seq,
    params,
    pageSize,
    (cursor) => {
      const q = new URLSearchParams(filters);
      q.set('cursor', cursor);
      return `${ctx.baseUrl}/${kind === 'training' ? 'trainings' : 'predictions'}?${q.toString()}`;
    },
  );
  return { ...page, results: page.results.map((e) => leanView(store.refresh(e), ctx.lean, 'list')) };
}

/**
 * One page of `all` (newest first; `seqOf` increases with creation order) after `params.cursor`, with absolute
 * `next`/`previous` links built by `link(cursor)`; null at the ends. Also used by GET /v1/files.
 */
export function paginate<T>(
  all: readonly T[],
  seqOf: (item: T) => number,
  params: URLSearchParams,
  pageSize: number,
  link: (cursor: string) => string,
): { next: string | null; previous: string | null; results: T[] } {
  const cursor = params.get('cursor');
  let start = 0;
  let end = Math.min(pageSize, all.length);
  if (cursor !== null) {
    const decoded = decodeCursor(cursor);
    if (!decoded) throw problem(404, undefined, 'Invalid cursor');
    if (decoded.reverse) {
      // The page of items just newer than position p.
      const firstOlder = all.findIndex((item) => seqOf(item) <= decoded.position);
      end = firstOlder === -1 ? all.length : firstOlder;
      start = Math.max(0, end - pageSize);
    } else {
      // The page of items just older than position p.
      start = all.findIndex((item) => seqOf(item) < decoded.position);
      if (start === -1) start = all.length;
      end = Math.min(start + pageSize, all.length);
    }
  }
  const page = all.slice(start, end);
  const last = page[page.length - 1];
  const first = page[0];
  return {
    next: end < all.length && last !== undefined ? link(encodeCursor(seqOf(last), false)) : null,
    previous: start > 0 && first !== undefined ? link(encodeCursor(seqOf(first), true)) : null,
    results: page,
  };
}

function encodeCursor(position: number, reverse: boolean): string {
  return Buffer.from(`${reverse ? 'r=1&' : ''}p=${position}`).toString('base64url');
}

function decodeCursor(cursor: string): { position: number; reverse: boolean } | undefined {
  const q = new URLSearchParams(Buffer.from(cursor, 'base64url').toString('utf8'));
  const p = Number(q.get('p'));
  if (!Number.isInteger(p) || p <= 0) return undefined;
  return { position: p, reverse: q.get('r') === '1' };
}
