/** What a dev server start that lost a port race says (src/dev/dev-server.ts retries those on the CLI's own ports). */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, portInUse, startDevServer } from '../../src/dev/dev-server';

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

describe('startDevServer, when the CLI exits at start', () => {
  // A Go panic says why in its first line, then prints kilobytes of stack: the bind error must still be seen (and
  // retried), and the error must still say why. Seen in a whole run: a start that panicked, its reason cut off.
  it('reads the reason at the head of a long panic: a port collision of the CLI’s own is retried', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fake-temporal-'));
    const attempts = path.join(dir, 'attempts');
    const fake = path.join(dir, 'temporal');
    const frame =
      'go.uber.org/dig.paramList.BuildList(...)\\n\\t/go/pkg/mod/go.uber.org/dig@v1.19.0/param.go:151 +0xad\\n';
    writeFileSync(
      fake,
      `#!/bin/sh\necho x >> "${attempts}"\n` +
        `printf 'panic: listen tcp 127.0.0.1:1: bind: address already in use\\n\\ngoroutine 1 [running]:\\n' >&2\n` +
        `i=0; while [ $i -lt 200 ]; do printf '${frame}' >&2; i=$((i+1)); done\nexit 2\n`,
    );
    chmodSync(fake, 0o755);
    const before = process.env.TEMPORAL_CLI_PATH;
    process.env.TEMPORAL_CLI_PATH = fake;
    try {
      const error = await startDevServer({ port: await freePort(), uiPort: null }).catch((e: Error) => e);
      expect(String(error)).toContain('panic: listen tcp 127.0.0.1:1: bind: address already in use');
      expect(readFileSync(attempts, 'utf8').trim().split('\n')).toHaveLength(3);
    } finally {
      if (before === undefined) delete process.env.TEMPORAL_CLI_PATH;
      else process.env.TEMPORAL_CLI_PATH = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startDevServer, when the CLI reports our own port in use', () => {
  /** A fake CLI whose worker service fails to bind the port given with --port; it counts its starts. */
  function fakeCli(dir: string): { fake: string; attempts: string } {
    const attempts = path.join(dir, 'attempts');
    const fake = path.join(dir, 'temporal');
    writeFileSync(
      fake,
      `#!/bin/sh\necho x >> "${attempts}"\nport=""\nwhile [ $# -gt 0 ]; do [ "$1" = "--port" ] && port="$2"; shift; done\n` +
        `echo "level=ERROR msg=\\"Failed to start gRPC listener\\" error=\\"listen tcp 127.0.0.1:$port: bind: address already in use\\" service=worker" >&2\nexit 2\n`,
    );
    chmodSync(fake, 0o755);
    return { fake, attempts };
  }

  async function withFakeCli<T>(fn: (attempts: string) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(path.join(tmpdir(), 'fake-temporal-'));
    const { fake, attempts } = fakeCli(dir);
    const before = process.env.TEMPORAL_CLI_PATH;
    process.env.TEMPORAL_CLI_PATH = fake;
    try {
      return await fn(attempts);
    } finally {
      if (before === undefined) delete process.env.TEMPORAL_CLI_PATH;
      else process.env.TEMPORAL_CLI_PATH = before;
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const count = (attempts: string) => readFileSync(attempts, 'utf8').trim().split('\n').length;

  // The CLI picks its other services' ports while ours is still free: it can pick ours (seen in CI: the worker
  // service failed on the frontend's port). A new start picks again.
  it('retries when our port is free again: the CLI had picked it for one of its own services', async () => {
    await withFakeCli(async (attempts) => {
      await expect(startDevServer({ port: await freePort(), uiPort: null })).rejects.toThrow(
        /address already in use/,
      );
      expect(count(attempts)).toBe(3);
    });
  });

  it('gives up at once when another process holds our port', async () => {
    // another process's server: it drops every connection (our start's probe would otherwise keep close() waiting)
    const holder = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as AddressInfo).port;
    try {
      await withFakeCli(async (attempts) => {
        await expect(startDevServer({ port, uiPort: null })).rejects.toThrow(/address already in use/);
        expect(count(attempts)).toBe(1);
      });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });
});
