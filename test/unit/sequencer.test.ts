import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import slowest from '../slowest.json';

describe('the slowest test files, started first (test/sequencer.mts)', () => {
  it('all exist, once each', () => {
    expect(slowest.filter((file) => !existsSync(file))).toEqual([]);
    expect(new Set(slowest).size).toBe(slowest.length);
  });
});
