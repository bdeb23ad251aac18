/**
 * `npm run cluster -- up [--workers N] [--no-ui] | down | status | build`: a production-shaped Temporal cluster on
 * this machine, without Docker (docs/production.md). Progress goes to stderr; `up` prints
 * `TEMPORAL_ADDRESS=<host:port>` on a line of its own on stdout once the cluster answers.
 */
import { ensureBinaries, ensureUiBinary } from './binaries';
import { down, encrypted, restart, status, up } from './cluster';
import { layoutFrom, UsageError } from './layout';
import { useClusterTls } from './temporal';
import { clientTls, clientTlsEnv, clusterTls } from './tls';

const USAGE = `usage: npm run cluster -- up [--workers N] [--no-ui] [--tls] | down | status | build | restart NAME [--kill]

  up        start PostgreSQL, the Temporal server (PostgreSQL persistence and visibility), the UI, the webhook
            receiver and N workers (default 2; --workers 0 starts none); builds the binaries the first time;
            with ENCRYPTION_KEY also the codec server on loopback (the UI decrypts through it; up prints
            TEMPORAL_CODEC_ENDPOINT for the Temporal CLI), see docs/encryption.md;
            --tls (or CLUSTER_TLS=1): the frontend serves TLS with a self-signed CA (made by openssl in
            CLUSTER_HOME/tls); up then also prints TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME
  down      stop everything \`up\` started (the data stays in CLUSTER_HOME)
  status    what runs
  build     only build (or find) the binaries
  restart   restart one component, the rest left running: postgres, server or worker-N (--kill: SIGKILL, or
            PostgreSQL's immediate stop, instead of a clean stop); returns once it serves again

environment: CLUSTER_HOME (default .cluster), CLUSTER_PORT (frontend port, default 17233; the others follow it),
TEMPORAL_SERVER_BIN / TEMPORAL_SQL_BIN / TEMPORAL_UI_BIN (binaries you have), TEMPORAL_PREBUILT_DIR (a GOBIN
with server and sql v1.32.0 to copy), PG_BIN (folder of initdb);
the workers inherit REPLICATE_*, OUTPUT_*, WEBHOOK_BASE_URL, ENCRYPTION_KEY* and the rest of the environment.`;

const log = (line: string): void => {
  process.stderr.write(`[cluster] ${line}\n`);
};

function parseUp(args: string[]): { workers: number; ui: boolean } {
  const options = {
    workers: 2,
    ui: process.env.CLUSTER_UI !== 'off',
    tls: /^(1|true|on)$/i.test(process.env.CLUSTER_TLS?.trim() ?? ''),
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    if (flag === '--workers') {
      const value = inline ?? args[++i];
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < 0 || n > 32) {
        throw new UsageError(`--workers needs a whole number from 0 to 32, got ${value ?? 'nothing'}`);
      }
      options.workers = n;
    } else if (arg === '--no-ui') {
      options.ui = false;
    } else if (arg === '--tls') {
      options.tls = true;
    } else {
      throw new UsageError(`unknown option ${arg} for up`);
    }
  }
  return options;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const help = (arg: string) => arg === '--help' || arg === '-h';
  if (command === undefined || command === 'help' || help(command) || rest.some(help)) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  const layout = layoutFrom();
  useClusterTls(clientTls(clusterTls(layout))); // a cluster brought up with --tls: its CA
  switch (command) {
    case 'up': {
      const address = await up(layout, parseUp(rest), log);
      process.stdout.write(`TEMPORAL_ADDRESS=${address}\n`);
      // the Temporal CLI reads it: `temporal workflow show` then prints the runs' payloads decrypted
      if (encrypted())
        process.stdout.write(`TEMPORAL_CODEC_ENDPOINT=http://${layout.host}:${layout.ports.codec}\n`);
      const tls = clusterTls(layout);
      for (const [name, value] of Object.entries(tls ? clientTlsEnv(tls) : {})) {
        process.stdout.write(`${name}=${value}\n`);
      }
      return 0;
    }
    case 'down':
      if (rest.length > 0) throw new UsageError('down takes no options');
      await down(layout, log);
      return 0;
    case 'status': {
      if (rest.length > 0) throw new UsageError('status takes no options');
      const { lines, serving } = await status(layout);
      const width = Math.max(...lines.map((l) => l.name.length));
      for (const line of lines) {
        const state = line.running ? `running  pid ${line.pid}` : 'stopped';
        process.stdout.write(`${line.name.padEnd(width)}  ${state.padEnd(16)}  ${line.detail}\n`);
      }
      process.stdout.write(
        serving
          ? `TEMPORAL_ADDRESS=${layout.host}:${layout.ports.frontend}\n`
          : `Temporal does not answer on ${layout.host}:${layout.ports.frontend}\n`,
      );
      return lines.some((l) => l.running) ? 0 : 3;
    }
    case 'restart': {
      const [name, ...flags] = rest;
      if (name === undefined || flags.some((f) => f !== '--kill'))
        throw new UsageError('usage: npm run cluster -- restart postgres|server|worker-N [--kill]');
      await restart(layout, name, flags.includes('--kill'), log);
      return 0;
    }
    case 'build': {
      const binaries = await ensureBinaries(layout, log);
      const ui = await ensureUiBinary(layout, log);
      for (const [name, file] of Object.entries({ ...binaries, ui })) log(`${name}: ${file ?? 'not built'}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${command}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);
