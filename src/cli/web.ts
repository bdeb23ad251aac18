/**
 * `web`: the page to watch and browse generations (src/web), until Ctrl-C. Configured from the environment
 * (WEB_PORT, WEB_HOST, WEB_AUTH_TOKEN, TEMPORAL_UI_URL, OUTPUT_DIR / OUTPUT_URL); prints its address, never the token.
 */
import { readWebConfig } from '../config/web';
import { startWebServer } from '../web/server';
import { untilInterrupted, type CliContext } from './context';
import { CliError, EXIT } from './errors';
import { CLI, parseFor } from './usage';

export async function webCommand(args: string[], ctx: CliContext): Promise<number> {
  parseFor('web', args, {}, false);
  const config = readWebConfig(ctx.env ?? process.env);
  const client = await ctx.client();
  const server = await startWebServer({
    client,
    port: config.port,
    host: config.host,
    outputs: config.outputs,
    temporalUiUrl: config.temporalUiUrl,
    // the commands shown beside the buttons, as this CLI was invoked; rerun buttons use the client's rerunPipeline
    cliCommand: CLI,
    ...(config.authToken ? { authToken: config.authToken } : {}),
    log: ctx.err,
  }).catch((error: unknown) => {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new CliError(
        `cannot listen on ${config.host}:${config.port} (${code}): set WEB_PORT (and WEB_HOST) to a free address`,
      );
    }
    throw error;
  });
  ctx.out(
    `web page on ${server.origin}/ for namespace ${client.options.namespace}, outputs from ${config.outputs}; ${config.authToken ? 'sign in with WEB_AUTH_TOKEN (or send Authorization: Bearer <it>)' : 'no token (loopback only)'}`,
  );
  await untilInterrupted(ctx.signal);
  await server.stop();
  return EXIT.ok;
}
