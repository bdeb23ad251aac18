/**
 * `--help` on every command a user types: it prints the usage and exits 0 at once, and starts nothing (no worker,
 * no server, no simulator, no file written). Each runs as the user runs it (`npm run -s <script> -- ...`), with the
 * environment a stranger has: no token, and TEMPORAL_ADDRESS / SIM_PORT / WEBHOOK_PORT on ports nothing listens on
 * (a started process would connect, listen or wait there instead of exiting), CLUSTER_HOME in an empty folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../src/dev/binaries';
import { freePort, isPortFree } from '../src/dev/dev-server';

/**
 * `npm run -s <script> -- args` in its own process group, killed whole (by its id) if it outlives `timeoutMs`:
 * a command that started something instead of printing its help must not stay behind.
 */
function npmRun(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', script, '--', ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let ports: { temporal: number; sim: number; webhooks: number };
let cwd: string;
beforeAll(async () => {
  ports = { temporal: await freePort(), sim: await freePort(), webhooks: await freePort() };
  cwd = mkdtempSync(path.join(tmpdir(), 'help-'));
});

/**
 * [npm script, arguments, a line its help must contain]: every entry point once; each CLI command's own --help is
 * tested in-process by test/integration/cli.test.ts (the same code behind the same entry).
 */
const COMMANDS: [string, string[], string][] = [
  ['worker', ['--help'], 'usage: npm run worker'],
  ['simulator', ['--help'], 'usage: npm run simulator'],
  ['webhooks', ['--help'], 'usage: npm run webhooks'],
  ['cluster', ['--help'], 'usage: npm run cluster -- up'],
  ['cluster', ['up', '--help'], 'usage: npm run cluster -- up'],
  ['cluster', ['restart', '--help'], 'restart NAME'],
  ['demo', ['--help'], 'usage: npm run demo'],
  ['client', ['--help'], 'npm run -s client -- run --model REF'],
  ['client', ['worker', '--help'], 'usage: npm run -s client -- worker'],
  ['client', ['run', '--help'], 'npm run -s client -- run --model REF'],
  ['client', ['pipeline', 'run', '--help'], 'pipeline run FILE'],
  ['chaos', ['--help'], 'npm run chaos'],
  ['bench', ['--help'], 'npm run bench'],
  ['build:workflows', ['--help'], 'usage: npm run build:workflows'],
  ['observability:render', ['--help'], 'usage: npm run -s observability:render'],
  ['observability:check', ['--help'], 'usage: npm run -s observability:check'],
];

it.each(COMMANDS)(
  'npm run %s -- %j prints its usage and exits 0, starting nothing',
  async (script, args, line) => {
    const started = Date.now();
    const { code, stdout, stderr } = await npmRun(script, args, {
      REPLICATE_API_TOKEN: '',
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      SIM_PORT: String(ports.sim),
      WEBHOOK_PORT: String(ports.webhooks),
      CLUSTER_HOME: path.join(cwd, 'cluster'),
    });
    const seconds = (Date.now() - started) / 1000;
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain(line);
    expect(seconds).toBeLessThan(15); // tsx compiles on the fly: a few seconds on a busy machine
    // nothing started: nothing listens on the ports it was given, nothing was written (a cluster's home, a bundle)
    expect(await isPortFree(ports.sim)).toBe(true);
    expect(await isPortFree(ports.webhooks)).toBe(true);
    expect(await isPortFree(ports.temporal)).toBe(true);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(path.join(PROJECT_ROOT, '--help'))).toBe(false);
  },
);

it('an unknown argument to the worker, the simulator or the receiver is a usage error (exit 2), not a start', async () => {
  for (const script of ['worker', 'simulator', 'webhooks']) {
    const result = await npmRun(script, ['--port', '9'], {
      REPLICATE_API_TOKEN: 'x',
      TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}`,
      SIM_PORT: String(ports.sim),
    });
    expect(result.code, script).toBe(2);
    expect(result.stderr, script).toMatch(/takes no arguments .*--help/);
  }
});
