/** What the workflow sees of Replicate's answer: untrusted texts cleaned and capped, large outputs set aside. */
import { describe, expect, it } from 'vitest';
import { MAX_TEXT_CHARS, needsClaim, snapshot } from '../../src/activities/snapshot';
import type { Prediction } from '../../src/shared/types';

const TOKEN = 'r8_secret_token_value_123';
const base: Prediction = { id: 'p1', status: 'failed', model: 'a/b' };

describe('snapshot', () => {
  it('redacts the token from the error and every log line Replicate echoes, not only detail', () => {
    const s = snapshot(
      { ...base, error: `auth header was Bearer ${TOKEN}`, logs: `line 1\nusing ${TOKEN} twice ${TOKEN}\n` },
      { token: TOKEN },
    );
    expect(JSON.stringify(s)).not.toContain(TOKEN);
    expect(s.error).toBe('auth header was Bearer ***');
    expect(s.logsTail).toEqual(['line 1', 'using *** twice ***']);
  });

  it('caps a hostile error and log lines, and keeps only the last 20 lines', () => {
    const long = 'y'.repeat(1_000_000);
    const logs = Array.from({ length: 50 }, (_, i) => `${i} ${long}`).join('\n');
    const s = snapshot({ ...base, error: long, logs });
    expect(s.error!.length).toBeLessThan(MAX_TEXT_CHARS + 40);
    expect(s.logsTail).toHaveLength(20);
    expect(s.logsTail[0]!.startsWith('30 ')).toBe(true);
    expect(JSON.stringify(s).length).toBeLessThan(100_000);
  });

  it('leaves out an output over the inline limit; only a terminal one needs a claim check', () => {
    const output = 'z'.repeat(300_000);
    const done = snapshot({ ...base, status: 'succeeded', output });
    expect(done).toMatchObject({ output: null, outputOmitted: true });
    expect(needsClaim(done)).toBe(true);
    const running = snapshot({ ...base, status: 'processing', output });
    expect(needsClaim(running)).toBe(false);
    const small = snapshot({ ...base, status: 'succeeded', output: 'ok' });
    expect(small).toMatchObject({ output: 'ok' });
    expect(small.outputOmitted).toBeUndefined();
  });
});
