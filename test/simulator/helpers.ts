// Shared by the simulator's tests: an HTTP call helper, a simulator on an injected clock, a webhook receiver.
import { EventEmitter } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReplicateSimulator } from '../../simulator';
import type { Prediction } from '../../simulator';

export const TOKEN = 'sim-token';
export const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
export const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
export const T0 = Date.parse('2026-11-25T18:00:00Z');

export interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const res = await fetch(path.startsWith('http') ? path : `${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, headers: res.headers, json };
}

/** A simulator with an injectable clock, so lifecycle tests advance time instead of sleeping. */
export function clockedSimulator(extra: ConstructorParameters<typeof ReplicateSimulator>[0] = {}) {
  const clock = { t: T0 };
  const sim = new ReplicateSimulator({ now: () => clock.t, ...extra });
  return { sim, clock, advance: (ms: number) => (clock.t += ms) };
}

export const created = (r: Reply) => r.json as unknown as Prediction;

export interface Arrival {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A tiny webhook receiver: records arrivals (time at request start), answers statusFor(arrival index). */
export async function hookReceiver(statusFor: (n: number) => number = () => 204) {
  const arrivals: Arrival[] = [];
  const arrived = new EventEmitter();
  const server = createServer((req, res) => {
    const at = Date.now();
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const n = arrivals.length;
      arrivals.push({ at, headers: req.headers, body });
      res.writeHead(statusFor(n)).end();
      arrived.emit('arrival');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  /** Resolves with the first `count` arrivals once they are there. */
  const first = (count: number, timeoutMs = 10_000) =>
    new Promise<Arrival[]>((resolve, reject) => {
      const check = (): void => {
        if (arrivals.length < count) return;
        cleanup();
        resolve(arrivals.slice(0, count));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`only ${arrivals.length} of ${count} webhooks arrived`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        arrived.off('arrival', check);
      };
      arrived.on('arrival', check);
      check();
    });
  const close = () => new Promise((resolve) => server.close(resolve));
  return { url, arrivals, first, close };
}
