/**
 * The page as its own process's server (`replicate-temporal web`): the handler on src/http/server.ts (connection
 * caps, idle and header timeouts). A loopback address without a token answers only to this machine's host names.
 */
import { startHttpServer, type RunningHttpServer } from '../http/server';
import { isLoopback } from '../config/codec-server';
import { loopbackHosts } from './auth';
import { createWebHandler, type WebHandler, type WebHandlerOptions } from './handler';

export interface WebServerOptions extends Omit<WebHandlerOptions, 'allowedHosts' | 'basePath'> {
  port: number;
  host: string;
}

export interface RunningWebServer extends RunningHttpServer {
  handler: WebHandler;
}

/** Start the page on `host:port`; refuses a non-loopback address without an auth token. */
export async function startWebServer(options: WebServerOptions): Promise<RunningWebServer> {
  const { port, host, ...handlerOptions } = options;
  if (!options.authToken && !isLoopback(host))
    throw new TypeError(
      `the web page on ${host} (not a loopback address) needs an auth token (WEB_AUTH_TOKEN): anyone who reaches it could see every output and cancel runs`,
    );
  // this machine's host names with the port, known once it listens (0 = a free one), before any request is read
  const allowedHosts: string[] | undefined = options.authToken ? undefined : [];
  const handler = createWebHandler({ ...handlerOptions, ...(allowedHosts ? { allowedHosts } : {}) });
  const server = await startHttpServer(handler.listener, { port, host });
  allowedHosts?.push(...loopbackHosts(server.port));
  return {
    ...server,
    handler,
    async stop() {
      await handler.close();
      await server.stop();
    },
  };
}
