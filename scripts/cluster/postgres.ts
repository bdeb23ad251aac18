/**
 * PostgreSQL in a project-local data folder, on its own port, TCP on 127.0.0.1 only. When we run as root, initdb
 * and the server run as the `postgres` user (initdb refuses root) and the data folder belongs to it.
 * The superuser is `temporal` (password `temporal`, scram over TCP): the Temporal server and its sql tool use it.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UsageError, type Layout } from './layout';
import { DATABASES, PG_PASSWORD, PG_USER } from './server-config';

const IS_ROOT = process.getuid?.() === 0;

/** The folder of PostgreSQL's server binaries: PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, or pg_config. */
export function findPgBin(): string {
  const given = process.env.PG_BIN?.trim();
  if (given) {
    if (!existsSync(path.join(given, 'initdb'))) throw new UsageError(`PG_BIN="${given}" has no initdb`);
    return given;
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(path.join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(debian, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: 'pipe' }).trim();
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  } catch {
    // not installed
  }
  throw new UsageError(
    'PostgreSQL server binaries not found: `apt-get install -y postgresql` (Debian), or set PG_BIN to the folder of initdb and pg_ctl',
  );
}

/** A pg binary run as the postgres user when we are root. */
function pg(layout: Layout, bin: string, tool: string, args: string[]): string {
  const command = path.join(bin, tool);
  const [file, argv] = IS_ROOT ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  try {
    // CLUSTER_OWNER marks the server's processes as ours (see processes.ts), like every process `up` starts
    const env = { ...process.env, CLUSTER_OWNER: layout.home };
    return execFileSync(file, argv, { encoding: 'utf8', stdio: 'pipe', cwd: layout.home, env });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} ${args[0] ?? ''} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

function ownedByPostgres(target: string): void {
  if (!IS_ROOT) return;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(target, uid, gid);
}

/** As root, the postgres user must reach the folder through every parent (a clone under /root, mode 700, fails). */
function checkPostgresReaches(dir: string): void {
  if (!IS_ROOT) return;
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', 'test', '-w', dir], { stdio: 'pipe' });
  } catch {
    throw new UsageError(
      `PostgreSQL runs as the postgres user, which cannot reach ${dir} (a parent folder is not open to other users); set CLUSTER_HOME to a folder it can reach, e.g. CLUSTER_HOME=/var/tmp/replicate-cluster`,
    );
  }
}

/** Creates the data folder on first use; true when it did. */
export function initPostgres(layout: Layout, bin: string): boolean {
  const pgDir = path.dirname(layout.pgData);
  if (existsSync(path.join(layout.pgData, 'PG_VERSION'))) {
    checkPostgresReaches(pgDir);
    return false;
  }
  mkdirSync(pgDir, { recursive: true });
  ownedByPostgres(pgDir);
  checkPostgresReaches(pgDir);
  rmSync(layout.pgData, { recursive: true, force: true }); // a failed initdb's leftovers
  const pwfile = path.join(pgDir, '.pwfile');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
  ownedByPostgres(pwfile);
  try {
    pg(layout, bin, 'initdb', [
      '-D',
      layout.pgData,
      '-U',
      PG_USER,
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--no-locale',
      '--no-instructions',
    ]);
  } finally {
    rmSync(pwfile, { force: true });
  }
  return true;
}

/** The postmaster's pid when it runs on this data folder, else null. */
export function postgresPid(layout: Layout): number | null {
  const file = path.join(layout.pgData, 'postmaster.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  // a recycled pid is not ours: the postmaster's command line names our data folder
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  return cmdline.includes(layout.pgData) ? pid : null;
}

export function startPostgres(layout: Layout, bin: string): { pid: number; started: boolean } {
  const running = postgresPid(layout);
  if (running) return { pid: running, started: false };
  mkdirSync(layout.pgSocketDir, { recursive: true });
  ownedByPostgres(layout.pgSocketDir);
  mkdirSync(layout.logDir, { recursive: true });
  if (!existsSync(layout.pgLog)) writeFileSync(layout.pgLog, '');
  ownedByPostgres(layout.pgLog);
  const options = [
    `-p ${layout.ports.postgres}`,
    `-c listen_addresses=${layout.host}`,
    `-k ${layout.pgSocketDir}`,
    '-c max_connections=100',
  ].join(' ');
  pg(layout, bin, 'pg_ctl', [
    'start',
    '-D',
    layout.pgData,
    '-l',
    layout.pgLog,
    '-w',
    '-t',
    '60',
    '-o',
    options,
  ]);
  const pid = postgresPid(layout);
  if (!pid) throw new Error(`PostgreSQL did not start: see ${layout.pgLog}`);
  return { pid, started: true };
}

/** `fast` rolls back open transactions and exits cleanly; `immediate` is a crash (recovery at the next start). */
export function stopPostgres(layout: Layout, bin: string, mode: 'fast' | 'immediate' = 'fast'): boolean {
  if (!postgresPid(layout)) return false;
  pg(layout, bin, 'pg_ctl', ['stop', '-D', layout.pgData, '-m', mode, '-w', '-t', '60']);
  return true;
}

/**
 * The two databases and their schemas with the server's sql tool: create-database and `setup-schema -v 0.0` the
 * first time, then `update-schema` to the version the tool embeds (every time: a no-op when current, the
 * migration after a server upgrade).
 */
export function ensureSchemas(layout: Layout, sqlTool: string): void {
  const common = [
    '--plugin',
    'postgres12',
    '--ep',
    layout.host,
    '-p',
    String(layout.ports.postgres),
    '-u',
    PG_USER,
    '--pw',
    PG_PASSWORD,
  ];
  const marker = path.join(path.dirname(layout.pgData), 'schemas-created');
  const run = (args: string[]): string => {
    try {
      return execFileSync(sqlTool, [...common, ...args], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string };
      throw new Error(`sql tool ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
    }
  };
  for (const [kind, db] of [
    ['temporal', DATABASES.persistence],
    ['visibility', DATABASES.visibility],
  ] as const) {
    if (!existsSync(marker)) {
      try {
        run(['--db', db, 'create-database', '--defaultdb', 'postgres']);
      } catch (error) {
        if (!/already exists/i.test((error as Error).message)) throw error;
      }
      run(['--db', db, 'setup-schema', '-v', '0.0']);
    }
    run(['--db', db, 'update-schema', '--schema-name', `postgresql/v12/${kind}`]);
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
}
