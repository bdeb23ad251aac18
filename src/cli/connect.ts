/** Connecting to Temporal, and starting a workflow the way every command does. */
import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { registerSearchAttributes } from '../client/search-attributes';
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

/** Clients that registered the search attributes (once per client, idempotent on the server). */
const registered = new WeakMap<Client, Promise<string | null>>();

/**
 * Start a workflow: the search attributes the workflows use are registered first (a fresh server has none until a
 * worker starts), and a refused start says the server's reason (exit 2).
 */
export async function startWorkflow<H>(
  client: Client,
  workflowId: string,
  ctx: CliContext,
  start: () => Promise<H>,
): Promise<H> {
  let problem = registered.get(client);
  if (!problem) {
    problem = registerSearchAttributes(client).then(
      () => null,
      (error: unknown) => grpcReason(error),
    );
    registered.set(client, problem);
  }
  const registration = await problem;
  try {
    const handle = await start();
    if (registration) ctx.err(`warning: ${registration}`);
    return handle;
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError || isUnavailable(error)) throw error;
    throw new CliError(
      `cannot start workflow ${workflowId}: ${grpcReason(error)}${registration ? ` (also: ${registration})` : ''}`,
    );
  }
}
