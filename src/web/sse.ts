/**
 * A tab's live stream (server-sent events): `regions` events with the regions that changed, `closed` once nothing
 * will change any more. A comment every 5 s keeps the connection from the server's 10 s idle limit (and tells a
 * proxy it is alive); the browser reconnects by itself after a drop (`retry`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Watch } from './watch';

export const PING_MS = 5_000;

export function openEventStream(
  req: IncomingMessage,
  res: ServerResponse,
  watch: Watch<unknown>,
  streams: Set<ServerResponse>,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  streams.add(res);
  const unsubscribe = watch.subscribe({
    // JSON never holds a raw newline, so each event's data is one line
    send: (event, data) => void res.write(`event: ${event}\ndata: ${data}\n\n`),
  });
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  const close = () => {
    clearInterval(ping);
    unsubscribe();
    streams.delete(res);
  };
  req.once('close', close);
  res.once('close', close);
}
