/**
 * CLI entry: `npm run simulator` (`-- --help`: the usage below).
 * Env: SIM_PORT (default 8787; 0 = random free port), SIM_HOST (bind address, default 127.0.0.1), SIM_TOKEN (default 'sim-token'),
 * SIM_FAULTS (optional JSON Faults object), SIM_VERBOSE=1 (one line per request on stderr), SIM_LEAN=list|list-and-get
 * (leave `deadline` and `webhook` out of list results, or of list and get answers; see SimulatorOptions.lean).
 * Prints exactly one line to stdout once listening; stops cleanly on SIGINT/SIGTERM.
 */
import { LEAN_MODES, ReplicateSimulator } from './index';
import type { Faults, LeanMode } from './index';

function parseLean(raw: string | undefined): LeanMode | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!(LEAN_MODES as readonly string[]).includes(raw)) {
    throw new Error(`SIM_LEAN must be one of ${LEAN_MODES.join(', ')} (or unset), got "${raw}"`);
  }
  return raw as LeanMode;
}

function parseFaults(raw: string | undefined): Faults | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Faults;
  } catch (err) {
    throw new Error(`SIM_FAULTS must be a JSON object: ${(err as Error).message}`);
  }
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 8787;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`SIM_PORT must be 0..65535, got "${raw}"`);
  return port;
}

const USAGE = `usage: npm run simulator
A local stand-in for the Replicate API (a development tool, not in the package): prints its base URL on one line,
then answers until Ctrl-C. No flags; its settings are environment variables:
  SIM_PORT      the port (default 8787; 0: any free port)     SIM_HOST   the address to bind (default 127.0.0.1)
  SIM_TOKEN     the API token it accepts (default sim-token)  SIM_VERBOSE=1   one line per request on stderr
  SIM_FAULTS    injected faults, JSON, e.g. '{"serverErrorRate":0.2,"rateLimitNext":3}'
  SIM_LEAN      list | list-and-get: leave deadline and webhook out of those answers
Point a worker at it: REPLICATE_API_TOKEN=sim-token REPLICATE_BASE_URL=http://127.0.0.1:8787/v1 npm run worker
Its models, faults and admin endpoints: simulator/README.md.`;

async function main(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.length > 0) {
    process.stderr.write(
      `simulator: takes no arguments (got ${args.join(' ')}): its settings are environment variables; npm run simulator -- --help lists them\n`,
    );
    process.exit(2);
  }
  const token = process.env.SIM_TOKEN || 'sim-token';
  const faults = parseFaults(process.env.SIM_FAULTS);
  const lean = parseLean(process.env.SIM_LEAN);
  const sim = new ReplicateSimulator({
    port: parsePort(process.env.SIM_PORT),
    host: process.env.SIM_HOST || '127.0.0.1',
    token,
    ...(faults ? { faults } : {}),
    ...(lean ? { lean } : {}),
    verbose: process.env.SIM_VERBOSE === '1',
  });
  const baseUrl = await sim.start();
  process.stdout.write(
    `Replicate simulator listening on ${baseUrl} (token: ${token})${lean ? ` (lean: ${lean})` : ''}\n`,
  );

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    sim.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`simulator: error while stopping: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`simulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
