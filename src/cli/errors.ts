/** Exit codes, the CLI's one-line errors, and how a failed call to Temporal is worded. */
import { ServiceError, type Client, type Connection } from '@temporalio/client';
import { temporalUnreachableHint } from '../dev/hints';
import { CLI } from './usage';

/** 0 succeeded; 1 the run failed (or was canceled, timed out...); 2 usage or configuration; 130 Ctrl-C. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** A failure with a one-line explanation, printed as is (exit 2). */
export class CliError extends Error {}

/** The server's own words for a failed call (the gRPC cause), not the SDK's summary. */
export function grpcReason(error: unknown): string {
  const cause = (error as { cause?: { details?: unknown; message?: unknown } }).cause;
  const details = typeof cause?.details === 'string' && cause.details ? cause.details : undefined;
  const message = typeof cause?.message === 'string' ? cause.message : undefined;
  return (details ?? message ?? (error as Error).message ?? String(error)).trim();
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** A call that failed because Temporal did not answer (server down, network). */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  return (
    (error instanceof ServiceError || typeof code === 'number') &&
    (code === GRPC_UNAVAILABLE || code === GRPC_DEADLINE_EXCEEDED)
  );
}

export function addressOfClient(client: Client): string {
  return (client.connection as Partial<Connection>).options?.address ?? 'the configured address';
}

/** The connection dropped while a command waited: one line, and how to come back to the run. */
export function connectionLost(
  client: Client,
  workflowId: string,
  error: unknown,
  pipeline = false,
): CliError {
  const reattach = pipeline ? `pipeline status ${workflowId}` : `result ${workflowId}`;
  return new CliError(
    `lost the connection to Temporal at ${addressOfClient(client)} (${grpcReason(error)}); ` +
      `the run continues on the server: once it answers again, reattach with ${CLI} ${reattach}. ${temporalUnreachableHint}`,
  );
}
