import { describe, expect, it } from 'vitest';
import { parseProgress } from '../../src/shared/progress';

describe('progress in the logs tail', () => {
  it('reads a tqdm bar by its counts', () => {
    expect(parseProgress([' 45%|████▌     | 45/100 [00:09<00:11,  4.91it/s]'])).toEqual({
      fraction: 0.45,
      steps: 100,
    });
    expect(parseProgress(['Sampling:  12%|█▏        | 6/50 [00:01<00:09,  4.52it/s]'])).toEqual({
      fraction: 0.12,
      steps: 50,
    });
  });

  it('takes a bare percentage bar as a hundred steps', () => {
    expect(parseProgress(['loading 30%|███       |'])).toEqual({ fraction: 0.3, steps: 100 });
  });

  it('reads step counters done so far', () => {
    expect(parseProgress(['step 12/50'])).toEqual({ fraction: 0.24, steps: 50 });
    expect(parseProgress(['Step 3 of 20: loss 0.12'])).toEqual({ fraction: 0.15, steps: 20 });
    expect(parseProgress(['steps: 40/40'])).toEqual({ fraction: 1, steps: 40 });
  });

  it('counts an item being generated as the ones before it done', () => {
    expect(parseProgress(['Generating image 1/4'])).toEqual({ fraction: 0, steps: 4 });
    expect(parseProgress(['Processing frame 31 of 120'])).toEqual({ fraction: 0.25, steps: 120 });
  });

  it('composes a bar with the item it belongs to', () => {
    const tail = [
      'Generating image 1/4',
      '100%|██████████| 50/50 [00:05<00:00]',
      'Generating image 2/4',
      ' 50%|█████     | 25/50 [00:02<00:02]',
    ];
    expect(parseProgress(tail)).toEqual({ fraction: (1 + 0.5) / 4, steps: 200 });
    // the next item has started, its bar not yet
    expect(parseProgress([...tail, 'Generating image 3/4'])).toEqual({ fraction: 0.5, steps: 4 });
  });

  it('uses the latest line that tells progress, and the last redraw of a carriage-returned line', () => {
    expect(parseProgress(['step 10/50', 'step 20/50', 'saving intermediate latents'])).toEqual({
      fraction: 0.4,
      steps: 50,
    });
    expect(parseProgress(['  0%|          | 0/8\r 25%|██▌       | 2/8\r 50%|█████     | 4/8'])).toEqual({
      fraction: 0.5,
      steps: 8,
    });
  });

  it('finds nothing in logs without progress, and ignores numbers that are not counts of a whole', () => {
    expect(parseProgress([])).toBeUndefined();
    expect(parseProgress(['Using seed: 41231', 'Loading pipeline components...'])).toBeUndefined();
    expect(parseProgress(['resized to 1024/768'])).toBeUndefined();
    expect(parseProgress(['step 60/50'])).toBeUndefined(); // more done than the whole
    expect(parseProgress(['step 1/0'])).toBeUndefined();
    expect(parseProgress(['140%|█████|'])).toBeUndefined();
    expect(parseProgress(['Generating image 0/4'])).toBeUndefined();
  });

  it('stays fast on hostile lines', () => {
    const hostile = [
      `${'9'.repeat(1_900)}%|${'|'.repeat(100)}`,
      `step ${' '.repeat(1_990)}`,
      'a'.repeat(2_000),
    ];
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) parseProgress(Array(20).fill(hostile).flat());
    expect(performance.now() - t0).toBeLessThan(2_000);
  });
});
