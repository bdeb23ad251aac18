/**
 * The Temporal server and its sql tool: given by the user (TEMPORAL_SERVER_BIN, TEMPORAL_SQL_BIN), cached in
 * CLUSTER_BIN_DIR, copied from a machine-level build of the same version, or built with `go install` (about
 * 10-15 minutes on 2 cores, once). Also the server's config template from the Go module cache.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
} from 'node:fs';
import path from 'node:path';
import { TEMPORAL_VERSION, UsageError, type Layout } from './layout';

const MODULE = 'go.temporal.io/server';
const PACKAGES = { server: `${MODULE}/cmd/server`, sql: `${MODULE}/cmd/tools/sql` };

/**
 * Folders where a machine may already hold `go install` builds of these packages (GOBIN-style: `server`, `sql`),
 * TEMPORAL_PREBUILT_DIR (empty: none) or this workplace's machine-level build. Used only when their `--version`
 * says TEMPORAL_VERSION.
 */
function prebuiltDirs(): string[] {
  const given = process.env.TEMPORAL_PREBUILT_DIR;
  if (given !== undefined) return given.trim() ? [given.trim()] : [];
  return ['/work/gocache-bin'];
}

export interface Binaries {
  server: string;
  sql: string;
}

export async function ensureBinaries(layout: Layout, log: (line: string) => void): Promise<Binaries> {
  const server = path.join(layout.binDir, 'temporal-server');
  const sql = path.join(layout.binDir, 'temporal-sql-tool');
  const given = {
    server: fromEnv('TEMPORAL_SERVER_BIN'),
    sql: fromEnv('TEMPORAL_SQL_BIN'),
  };
  const missing: (keyof Binaries)[] = [];
  if (!given.server && !isExecutable(server)) missing.push('server');
  if (!given.sql && !isExecutable(sql)) missing.push('sql');
  if (missing.length > 0) {
    mkdirSync(layout.binDir, { recursive: true });
    const targets = { server, sql };
    const stillMissing = missing.filter((name) => !copyPrebuilt(name, targets[name], log));
    if (stillMissing.length > 0) {
      await goInstall(
        layout,
        stillMissing.map((name) => ({
          spec: `${PACKAGES[name]}@v${TEMPORAL_VERSION}`,
          built: name,
          target: targets[name],
        })),
        log,
        'about 10-15 minutes on 2 cores',
      );
    }
  }
  return { server: given.server ?? server, sql: given.sql ?? sql };
}

/** The Temporal UI server (a Go module that embeds the built UI); it builds in about 2 minutes. */
export const UI_MODULE = 'github.com/temporalio/ui-server/v2';
/** The newest release whose dependencies all build here (v2.58 needs module versions the proxy does not serve). */
export const UI_VERSION = '2.56.4';

/** TEMPORAL_UI_BIN, the cached build, or a fresh `go install`; null (with the reason logged) when it cannot build. */
export async function ensureUiBinary(layout: Layout, log: (line: string) => void): Promise<string | null> {
  const given = fromEnv('TEMPORAL_UI_BIN');
  if (given) return given;
  const target = path.join(layout.binDir, `temporal-ui-server-${UI_VERSION}`);
  if (isExecutable(target)) return target;
  mkdirSync(layout.binDir, { recursive: true });
  try {
    await goInstall(
      layout,
      [{ spec: `${UI_MODULE}/cmd/server@v${UI_VERSION}`, built: 'server', target }],
      log,
      'about 2 minutes',
    );
    return target;
  } catch (error) {
    log(`the Temporal UI is left out: ${(error as Error).message}`);
    return null;
  }
}

function fromEnv(name: string): string | undefined {
  const value = process.env[name]?.trim();
  if (!value) return undefined;
  if (!isExecutable(value)) throw new UsageError(`${name}="${value}" is not an executable file`);
  return path.resolve(value);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function versionOf(binary: string): string | null {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 20_000, stdio: 'pipe' });
  } catch {
    return null;
  }
}

function copyPrebuilt(name: keyof Binaries, target: string, log: (line: string) => void): boolean {
  for (const dir of prebuiltDirs()) {
    const candidate = path.join(dir, name);
    if (!isExecutable(candidate) || !versionOf(candidate)?.includes(TEMPORAL_VERSION)) continue;
    const partial = `${target}.partial`;
    copyFileSync(candidate, partial);
    renameSync(partial, target);
    log(`using the ${name} binary v${TEMPORAL_VERSION} already built on this machine (${candidate})`);
    return true;
  }
  return false;
}

/** `go install` into a scratch GOBIN, then moved into the cache (a half-built binary is never cached). */
async function goInstall(
  layout: Layout,
  items: { spec: string; built: string; target: string }[],
  log: (line: string) => void,
  duration: string,
): Promise<void> {
  const gobin = path.join(layout.binDir, `.go-install-${process.pid}`);
  mkdirSync(layout.logDir, { recursive: true });
  const logFile = path.join(layout.logDir, 'build.log');
  const packages = items.map((item) => item.spec);
  log(`building ${packages.join(' and ')} with go install (once; ${duration}; log: ${logFile})`);
  const started = Date.now();
  const out = openSync(logFile, 'a');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('go', ['install', ...packages], {
      // GOTOOLCHAIN=auto: the module may ask for a newer Go, which the go command fetches like a module.
      env: { ...process.env, GOBIN: gobin, GOTOOLCHAIN: process.env.GOTOOLCHAIN || 'auto' },
      stdio: ['ignore', out, out],
    });
    child.once('error', (error) =>
      reject(
        (error as NodeJS.ErrnoException).code === 'ENOENT'
          ? new UsageError('go is not on PATH: install Go, or set TEMPORAL_SERVER_BIN and TEMPORAL_SQL_BIN')
          : error,
      ),
    );
    child.once('exit', resolve);
  });
  if (code !== 0) {
    rmSync(gobin, { recursive: true, force: true });
    throw new Error(`go install failed (exit ${code}): see ${logFile}`);
  }
  for (const item of items) renameSync(path.join(gobin, item.built), item.target);
  rmSync(gobin, { recursive: true, force: true });
  log(`built in ${Math.round((Date.now() - started) / 1000)} s, cached in ${layout.binDir}`);
}

/**
 * The server module's `config/development-postgres12.yaml`, from the Go module cache (downloaded with
 * `go mod download` when the binaries came from elsewhere).
 */
export function configTemplatePath(log: (line: string) => void): string {
  const relative = path.join('config', 'development-postgres12.yaml');
  const find = (): string | null => {
    try {
      const dir = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
      const file = path.join(dir, `${MODULE}@v${TEMPORAL_VERSION}`, relative);
      return existsSync(file) ? file : null;
    } catch {
      return null;
    }
  };
  const found = find();
  if (found) return found;
  log(`downloading the ${MODULE}@v${TEMPORAL_VERSION} module for its config template (go mod download)`);
  try {
    execFileSync('go', ['mod', 'download', `${MODULE}@v${TEMPORAL_VERSION}`], {
      stdio: 'pipe',
      cwd: process.env.HOME ?? '/',
      env: { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN || 'auto', GOFLAGS: '-mod=mod' },
    });
  } catch (error) {
    throw new Error(`go mod download ${MODULE}@v${TEMPORAL_VERSION} failed: ${(error as Error).message}`);
  }
  const downloaded = find();
  if (!downloaded) throw new Error(`${relative} is not in ${MODULE}@v${TEMPORAL_VERSION}`);
  return downloaded;
}
