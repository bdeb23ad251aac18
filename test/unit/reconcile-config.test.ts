import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_RECONCILE_EVERY_MS,
  readReconcileEvery,
  readWorkerConfig,
} from '../../src/config';

describe('RECONCILE_EVERY', () => {
  it('defaults to a Schedule every 5 minutes wherever a worker runs', () => {
    expect(DEFAULT_RECONCILE_EVERY_MS).toBe(5 * 60_000);
    expect(readReconcileEvery({})).toBe(5 * 60_000);
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 'r8_x' }).reconcileEveryMs).toBe(5 * 60_000);
  });

  it('takes a duration of at least a minute, or off', () => {
    expect(readReconcileEvery({ RECONCILE_EVERY: '10m' })).toBe(600_000);
    expect(readReconcileEvery({ RECONCILE_EVERY: '1h' })).toBe(3_600_000);
    expect(readReconcileEvery({ RECONCILE_EVERY: 'off' })).toBeNull();
    expect(readReconcileEvery({ RECONCILE_EVERY: 'OFF' })).toBeNull();
  });

  it.each(['30s', '5', 'soon', '-5m'])('rejects %s with one line naming the variable', (value) => {
    expect(() => readReconcileEvery({ RECONCILE_EVERY: value })).toThrow(ConfigError);
    expect(() => readReconcileEvery({ RECONCILE_EVERY: value })).toThrow(/RECONCILE_EVERY=".*" must be/);
  });
});
