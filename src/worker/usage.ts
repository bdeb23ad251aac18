/** The worker's `--help`: it takes no flags, its settings are environment variables (docs/configuration.md). */
import { FROM_PACKAGE, WORKER_COMMAND } from '../dev/commands';

/** What the worker does and the variables a first run needs. */
export const WORKER_HELP = `Runs the workflows and the Replicate activities on TEMPORAL_TASK_QUEUE until SIGINT or SIGTERM (in-flight
activities then get SHUTDOWN_GRACE_SECONDS to finish). No flags: its settings are environment variables, read once
at start (a wrong one exits 2 naming it); every one is in docs/configuration.md. The usual ones:
  REPLICATE_API_TOKEN    your token (required; the simulator's is sim-token)
  REPLICATE_BASE_URL     the API (default https://api.replicate.com/v1; the simulator: http://127.0.0.1:8787/v1)
  TEMPORAL_ADDRESS       the Temporal frontend (default localhost:7233); TEMPORAL_NAMESPACE (default default)
  TEMPORAL_TASK_QUEUE    the queue it polls (default replicate)
  TEMPORAL_API_KEY, TEMPORAL_TLS_*   Temporal Cloud or a server with TLS
  WEBHOOK_BASE_URL, WEBHOOK_PORT     completion by webhook instead of polling
  OUTPUT_DIR, OUTPUT_URL             where pipelines' files go (default ./outputs; or s3://bucket/prefix)
  HEALTH_PORT, METRICS_PORT, LOG_FORMAT=json   probes, Prometheus metrics, JSON log lines`;

/** `usage: <how the worker is started>` and the help. */
export const WORKER_USAGE = `usage: ${WORKER_COMMAND}\n${WORKER_HELP}`;

/**
 * What the worker's command line asks for: its help, a start, or a usage error (it takes no arguments, so a
 * mistyped flag never starts a worker with settings the user did not mean).
 */
export function workerArgs(args: string[]): 'help' | 'start' | { error: string } {
  if (args.includes('--help') || args.includes('-h')) return 'help';
  if (args.length === 0) return 'start';
  return {
    error: `the worker takes no arguments (got ${args.join(' ')}): its settings are environment variables; ${WORKER_COMMAND}${FROM_PACKAGE ? '' : ' --'} --help lists them`,
  };
}
