/**
 * How far a running job is, read from the tail of its logs: tqdm bars (` 45%|████▌     | 45/100 [00:09<00:11]`),
 * step counters (`step 12/50`, `Step 12 of 50`) and item counters (`Generating image 1/4`), an item counter
 * composed with the bar that follows it (image 2 of 4 at 50 % = 37.5 %). Pure (the workflow parses the logs tail its
 * polls carry); the logs are the model's text, so only bounded numbers are taken from them.
 */

export interface Progress {
  /** share of the work done, 0..1 */
  fraction: number;
  /** how many steps the whole is counted in (a bar of 50 steps in each of 4 images: 200); 100 for a bare percentage */
  steps: number;
}

/** Counts above this are not progress (a size, a timestamp). */
const MAX_STEPS = 1_000_000;

/** ` 45%|…| 45/100 [` or ` 45%|…|`: the bar's own counts when it prints them, else its percentage. */
const BAR = /(\d{1,3})%\|[^|]{0,200}\|\s{0,4}(?:(\d{1,7})\/(\d{1,7}))?/;
/** `step 12/50`, `Step 12 of 50`, `steps: 12/50`: steps done. */
const STEP = /\bsteps?\s{0,4}[:#]?\s{0,4}(\d{1,7})\s{0,4}(?:\/|of)\s{0,4}(\d{1,7})\b/i;
/** `Generating image 1/4`, `Processing frame 3 of 120`: the item being worked on, so the ones before it are done. */
const ITEM =
  /\b(?:generating|processing|rendering|denoising|sampling|running)\b[^\d\n]{0,40}?(\d{1,7})\s{0,4}(?:\/|of)\s{0,4}(\d{1,7})\b/i;

/** The share of `done` of `total`, or undefined when they are not counts of a whole. */
function share(done: number, total: number): number | undefined {
  if (!Number.isInteger(done) || !Number.isInteger(total)) return undefined;
  if (total <= 0 || total > MAX_STEPS || done < 0 || done > total) return undefined;
  return done / total;
}

/** A bar or a step counter on one line (its last carriage-return segment: tqdm redraws in place). */
function innerProgress(line: string): Progress | undefined {
  const bar = BAR.exec(line);
  if (bar) {
    const counted = bar[2] !== undefined ? share(Number(bar[2]), Number(bar[3])) : undefined;
    if (counted !== undefined) return { fraction: counted, steps: Number(bar[3]) };
    const percent = Number(bar[1]);
    if (percent <= 100) return { fraction: percent / 100, steps: 100 };
  }
  const step = STEP.exec(line);
  if (step) {
    const fraction = share(Number(step[1]), Number(step[2]));
    if (fraction !== undefined) return { fraction, steps: Number(step[2]) };
  }
  return undefined;
}

/** An item counter on one line: item k of n started, so (k - 1) of n are done. */
function itemProgress(line: string): { index: number; total: number } | undefined {
  const m = ITEM.exec(line);
  if (!m) return undefined;
  const index = Number(m[1]);
  const total = Number(m[2]);
  return index >= 1 && share(index, total) !== undefined ? { index, total } : undefined;
}

function lastSegment(line: string): string {
  const parts = line.split('\r').filter((p) => p.trim() !== '');
  return parts[parts.length - 1] ?? '';
}

/** The job's progress as its latest log lines tell it, or undefined when they tell none. */
export function parseProgress(logsTail: readonly string[]): Progress | undefined {
  for (let i = logsTail.length - 1; i >= 0; i--) {
    const line = lastSegment(logsTail[i]!);
    const item = itemProgress(line);
    if (item) return { fraction: (item.index - 1) / item.total, steps: item.total };
    const inner = innerProgress(line);
    if (!inner) continue;
    // a bar inside an item: the item line before it says which one
    for (let j = i - 1; j >= 0; j--) {
      const outer = itemProgress(lastSegment(logsTail[j]!));
      if (outer)
        return {
          fraction: (outer.index - 1 + inner.fraction) / outer.total,
          steps: Math.min(MAX_STEPS, outer.total * inner.steps),
        };
    }
    return inner;
  }
  return undefined;
}
