/**
 * The standalone webhook receiver: an HTTP server on its own port (in the worker with WEBHOOK_PORT, or alone with
 * `npm run webhooks`) answering `POST /webhooks/replicate?workflow=<workflowId>` with the handler of ./handler.ts
 * (404 elsewhere, 405 for other methods). To mount the same handler in your own server, see ./node.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createHardenedServer, type HttpServerLimits } from '../http/server';
import { WebhookHandler, type WebhookHandlerOptions, type WebhookReceiverStats } from './handler';
import { nodeWebhookHandler, send } from './node';

export { DEFAULT_REPLAY_MAX_ENTRIES, DEFAULT_REPLAY_WINDOW_MS } from './handler';
export type { ReceivedWebhook, WebhookReceiverStats } from './handler';
export { DEFAULT_WEBHOOK_MAX_BODY_BYTES } from './node';

export const REPLICATE_WEBHOOK_PATH = '/webhooks/replicate';

/** The webhook URL to give Replicate for one workflow, under the receiver's public origin. */
export function replicateWebhookUrl(origin: string, workflowId: string): string {
  return `${origin.replace(/\/+$/, '')}${REPLICATE_WEBHOOK_PATH}?workflow=${encodeURIComponent(workflowId)}`;
}

export interface WebhookReceiverOptions extends WebhookHandlerOptions {
  /** 0 = random */
  port: number;
  /** default '127.0.0.1' */
  host?: string;
  /** default 1 MiB; larger -> 413 without reading it all */
  maxBodyBytes?: number;
  /** connections and timeouts (src/http/server.ts; default 256 connections, requests in 30 s, idle 30 s) */
  limits?: HttpServerLimits;
}

export class WebhookReceiver {
  private readonly handler: WebhookHandler;
  private readonly listener: ReturnType<typeof nodeWebhookHandler>;
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(private readonly options: WebhookReceiverOptions) {
    this.handler = new WebhookHandler(options);
    this.listener = nodeWebhookHandler(this.handler, { maxBodyBytes: options.maxBodyBytes });
  }

  get stats(): WebhookReceiverStats {
    return this.handler.stats;
  }

  /** Starts listening; resolves with the origin, e.g. `http://127.0.0.1:PORT`. */
  async start(): Promise<string> {
    if (this.server) throw new Error('WebhookReceiver already started');
    const server = createHardenedServer(
      (req, res) => {
        const url = new URL(req.url ?? '/', 'http://receiver.local');
        if (url.pathname !== REPLICATE_WEBHOOK_PATH) {
          return send(res, this.handler.reject(404, 'not-found', { method: req.method }));
        }
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          return send(res, this.handler.reject(405, 'method-not-allowed', { method: req.method }));
        }
        void this.listener(req, res);
      },
      // a delivery may wait on Temporal for a while without a byte on the socket
      { idleTimeoutMs: 30_000, ...this.options.limits },
    );
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    const publicHost =
      host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
    return `http://${publicHost}:${port}`;
  }

  /** Closes the server, destroying open sockets at once. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }
}
