/** What a dev server start that lost a port race says (src/dev/dev-server.ts retries those on the CLI's own ports). */
import { describe, expect, it } from 'vitest';
import { portInUse } from '../../src/dev/dev-server';

describe('portInUse', () => {
  it("names the port from the server's bind error (seen in a test run with five files at a time)", () => {
    const stderr =
      'failed to build *frontend.HTTPAPIServer: received non-nil error from function "go.temporal.io/server/service/frontend".HTTPAPIServerProvider (fx.go:1046): failed listening for HTTP API on 127.0.0.1:42381: listen tcp 127.0.0.1:42381: bind: address already in use';
    expect(portInUse(stderr)).toBe(42381);
  });

  it('is undefined for any other failure', () => {
    expect(portInUse('unable to open database file')).toBeUndefined();
    expect(portInUse('')).toBeUndefined();
  });
});
