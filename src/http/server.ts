/**
 * Every HTTP server this project runs (health, metrics, webhooks, and any page or codec server) starts here, with
 * limits a hostile neighbour cannot exhaust: a cap on open connections (more are closed on arrival, so a flood
 * never takes the process's file descriptors), and time limits on idle and slow sockets (headers, whole request,
 * keep-alive, inactivity), so connections that send nothing do not stay. Node's own server does the work; this
 * only sets its knobs, and closes every socket on stop.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface HttpServerLimits {
  /** connections open at once; more are closed on arrival (default 256) */
  maxConnections?: number;
  /** a request's headers must be in within this, from the connection's start (default 10 s) */
  headersTimeoutMs?: number;
  /** the whole request, body included (default 30 s) */
  requestTimeoutMs?: number;
  /** a kept-alive connection waits this long for its next request (default 5 s) */
  keepAliveTimeoutMs?: number;
  /**
   * a socket with no traffic either way for this long is destroyed (default 10 s): the limit that closes a
   * connection that never sends a byte (the header and request timeouts start with the first request)
   */
  idleTimeoutMs?: number;
  /** the largest request header section, bytes (default 16 KiB) */
  maxHeaderBytes?: number;
}

export const DEFAULT_HTTP_SERVER_LIMITS: Required<HttpServerLimits> = {
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 10_000,
  maxHeaderBytes: 16 * 1024,
};

export interface HttpServerOptions extends HttpServerLimits {
  /** 0 = a free port */
  port: number;
  /** the address to bind: '127.0.0.1' keeps it on this machine, '0.0.0.0' (or '::') opens it to the network */
  host: string;
}

export interface RunningHttpServer {
  server: Server;
  /** the port it listens on */
  port: number;
  /** `http://host:port`, reachable from this machine (a wildcard host reads as 127.0.0.1) */
  origin: string;
  /** stop listening and destroy every open socket */
  stop(): Promise<void>;
}

/** A server with `handler` and the limits applied, not yet listening. */
export function createHardenedServer(handler: RequestListener, limits: HttpServerLimits = {}): Server {
  const l = { ...DEFAULT_HTTP_SERVER_LIMITS, ...limits };
  const server = createServer(
    {
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      // how often the header and request timeouts are checked (Node's default, 30 s, would let them run late)
      connectionsCheckingInterval: Math.min(1_000, l.headersTimeoutMs),
    },
    handler,
  );
  server.maxConnections = l.maxConnections;
  // inactivity: without a 'timeout' listener, Node destroys the socket
  server.setTimeout(l.idleTimeoutMs);
  return server;
}

/** Start `handler` on `options.host:options.port` with the limits of `options` (defaults above). */
export async function startHttpServer(
  handler: RequestListener,
  options: HttpServerOptions,
): Promise<RunningHttpServer> {
  const server = createHardenedServer(handler, options);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port,
    origin: `http://${shown}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
