/** The poll's options as a local activity (src/workflows/retry-policies.ts). */
import { describe, expect, it } from 'vitest';
import { getOptions, localGetOptions } from '../../src/workflows/retry-policies';

describe('localGetOptions', () => {
  it('has no start-to-close: the SDK leaves a timer per local retry that panics after its Worker shut down', () => {
    // scripts/repro-local-activity-panic.ts shows the panic with a start-to-close and none without
    expect(localGetOptions).not.toHaveProperty('startToCloseTimeout');
    expect(localGetOptions.retry).toEqual(getOptions.retry);
  });
});
