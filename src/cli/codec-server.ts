/**
 * `codec-server`: Temporal's remote codec endpoint for this deployment's ENCRYPTION_KEY (src/encryption/codec-server.ts),
 * until Ctrl-C. Configured from the environment (CODEC_PORT, CODEC_HOST, CODEC_AUTH_TOKEN, CODEC_CORS_ORIGIN); prints
 * how to point the Temporal CLI and UI at it, never the token.
 */
import { readCodecServerConfig } from '../config/codec-server';
import { encryptionKeyId } from '../encryption/keys';
import { startCodecServer } from '../encryption/codec-server';
import { untilInterrupted, type CliContext } from './context';
import { CliError, EXIT } from './errors';
import { parseFor } from './usage';

export async function codecServerCommand(args: string[], ctx: CliContext): Promise<number> {
  parseFor('codec-server', args, {}, false);
  const config = readCodecServerConfig(ctx.env ?? process.env);
  const server = await startCodecServer({ ...config, log: ctx.err }).catch((error: unknown) => {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new CliError(
        `cannot listen on ${config.host}:${config.port} (${code}): set CODEC_PORT (and CODEC_HOST) to a free address`,
      );
    }
    throw error;
  });
  const keys = [config.keys.current, ...(config.keys.old ?? [])].map(
    (key, i) => `${encryptionKeyId(key)}${i === 0 ? ' (current)' : ' (old)'}`,
  );
  const auth = config.authToken ? " --codec-auth 'Bearer <CODEC_AUTH_TOKEN>'" : '';
  ctx.out(
    [
      `codec server on ${server.origin} for namespace ${config.namespace}, keys ${keys.join(', ')}; ${config.authToken ? 'requests need Authorization: Bearer <CODEC_AUTH_TOKEN>' : 'no token (loopback only)'}`,
      `  Temporal CLI: temporal workflow show --workflow-id ID --codec-endpoint ${server.origin}${auth}`,
      config.corsOrigins.length > 0
        ? `  Temporal UI at ${config.corsOrigins.join(', ')}: Settings (bottom left) > Codec Server > endpoint ${server.origin} (docs/encryption.md)`
        : '  Temporal UI: refused (no CODEC_CORS_ORIGIN); set CODEC_CORS_ORIGIN to its origin, e.g. http://localhost:8233',
    ].join('\n'),
  );
  await untilInterrupted(ctx.signal);
  await server.stop();
  return EXIT.ok;
}
