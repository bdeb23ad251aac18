/**
 * src/http/server.ts, the one way this project serves HTTP: connections over the cap are closed on arrival, a
 * connection that sends nothing is closed after the idle timeout, a slow sender after the headers timeout, and
 * stop() closes whatever is still open. Short limits here; the defaults are in the module.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_HTTP_SERVER_LIMITS, startHttpServer, type RunningHttpServer } from '../../src/http/server';

let running: RunningHttpServer | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const ok = (): Parameters<typeof startHttpServer>[0] => (_req, res) => void res.end('ok');

/** A raw connection and when it was closed by the server (resolves with ms since it connected). */
function connect(port: number, send?: string): { socket: net.Socket; closed: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1');
  const at = Date.now();
  socket.on('error', () => undefined);
  if (send !== undefined) socket.once('connect', () => socket.write(send));
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(Date.now() - at))) };
}

describe('startHttpServer', () => {
  it('has defaults that bound every connection', () => {
    expect(DEFAULT_HTTP_SERVER_LIMITS).toEqual({
      maxConnections: 256,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      idleTimeoutMs: 10_000,
      maxHeaderBytes: 16 * 1024,
    });
  });

  it('closes connections over the cap on arrival, and serves again once there is room', async () => {
    running = await startHttpServer(ok(), { port: 0, host: '127.0.0.1', maxConnections: 5 });
    const connections = Array.from({ length: 50 }, () => connect(running!.port));
    let closed = 0;
    for (const c of connections) void c.closed.then(() => closed++);
    await expect.poll(() => closed, { timeout: 5_000 }).toBeGreaterThanOrEqual(45); // refused on arrival
    const held = await new Promise<number>((resolve) =>
      running!.server.getConnections((_e, n) => resolve(n)),
    );
    expect(held).toBeLessThanOrEqual(5);
    for (const c of connections) c.socket.destroy();
    await expect
      .poll(
        async () =>
          (await fetch(`${running!.origin}/`, { signal: AbortSignal.timeout(500) }).catch(() => null))
            ?.status ?? null,
        { timeout: 5_000 },
      )
      .toBe(200);
  });

  it('closes a connection that sends nothing after the idle timeout, and a slow sender after the headers timeout', async () => {
    running = await startHttpServer(ok(), {
      port: 0,
      host: '127.0.0.1',
      idleTimeoutMs: 300,
      headersTimeoutMs: 500,
    });
    const idle = connect(running.port);
    expect(await idle.closed).toBeLessThan(2_000);
    const slow = connect(running.port, 'GET / HTTP/1.1\r\nHost: x\r\n'); // headers never end
    const keepTalking = setInterval(() => slow.socket.write('X-a: b\r\n'), 100); // never idle
    try {
      expect(await slow.closed).toBeLessThan(3_000);
    } finally {
      clearInterval(keepTalking);
    }
  });

  it('stop() closes the connections still open', async () => {
    running = await startHttpServer(ok(), { port: 0, host: '127.0.0.1' });
    const open = connect(running.port);
    await new Promise((resolve) => open.socket.once('connect', resolve));
    const stopped = running.stop();
    running = undefined;
    await stopped;
    expect(await open.closed).toBeGreaterThanOrEqual(0);
  });
});
