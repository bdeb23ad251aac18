/** Connecting to Temporal, and starting a workflow the way every command does. */
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { searchAttributesUsable } from '../client/search-attributes';
import { ConfigError, temporalConnectionOptions, type TemporalConfig } from '../config';
import { temporalConnectFailed } from '../dev/hints';
import { dataConverterOf } from '../encryption/data-converter';
import { startTracing } from '../observability/tracing';
import type { CliContext } from './context';
import { CliError, grpcReason, isUnavailable } from './errors';

/**
 * Connect lazily (address, TLS, API key as Temporal's environment configuration says), explaining an unreachable
 * server or a TLS problem in one line. With OTEL_* tracing on, the client's calls are traced (StartWorkflow is the
 * root of a run's trace; main.ts flushes before exiting).
 */
export function connectLazily(config: TemporalConfig): () => Promise<Client> {
  let client: Promise<Client> | undefined;
  return () =>
    (client ??= Promise.all([
      Connection.connect({ ...temporalConnectionOptions(config), connectTimeout: '5s' }).catch(
        async (error: unknown) => {
          throw new ConfigError(await temporalConnectFailed(config, (error as Error).message));
        },
      ),
      startTracing('replicate-temporal-cli'),
    ]).then(
      ([connection, tracing]) =>
        new Client({
          connection,
          namespace: config.namespace,
          interceptors: tracing?.clientInterceptors,
          // ENCRYPTION_KEY: what the command sends is encrypted, what it reads decrypted (docs/encryption.md)
          dataConverter: dataConverterOf(config),
        }),
    ));
}

/**
 * Start a workflow: the search attributes the workflows use are registered first when missing (a fresh server has
 * none until a worker starts; when the server refuses, one warning and the start helpers leave them out), and a
 * refused start says the server's reason (exit 2).
 */
export async function startWorkflow<H>(
  client: Client,
  workflowId: string,
  ctx: CliContext,
  start: () => Promise<H>,
): Promise<H> {
  // said after the start: a start that fails says why in one line, and that is the line that matters
  let warning: string | undefined;
  await searchAttributesUsable(client, (line) => (warning = line));
  try {
    const handle = await start();
    if (warning) ctx.err(`warning: ${warning}`);
    return handle;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError || isUnavailable(error)) throw error;
    throw new CliError(`cannot start workflow ${workflowId}: ${grpcReason(error)}`);
  }
}
