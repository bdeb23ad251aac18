/**
 * The native cluster with TLS on the frontend (`npm run cluster -- up --tls`): a self-signed CA and server
 * certificate made by openssl, a worker and the webhook receiver connecting over TLS with
 * TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_NAME, one prediction through the CLI; a client without
 * the CA (or without TLS) is refused with one line that names the variable to set. Its own CLUSTER_HOME and a port
 * range apart from test/cluster/cluster.test.ts's, so both run side by side.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ReplicateSimulator } from '../../simulator';
import { freeClusterPort } from './ports';
import { layoutFrom, type Layout } from '../../scripts/cluster/layout';
import { ourProcesses } from '../../scripts/cluster/processes';

const run = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');
const TOKEN = 'sim-tls-token-81d0';

const sim = new ReplicateSimulator({ token: TOKEN });
let home: string;
let layout: Layout;
let env: NodeJS.ProcessEnv;
let printed: Record<string, string>;

function cluster(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('npm', ['run', '-s', 'cluster', '--', ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
}

/** The CLI with `extra` for Temporal's variables (none of the test runner's own). */
async function cli(
  extra: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cliEnv: NodeJS.ProcessEnv = { ...env, ...extra };
  try {
    const { stdout, stderr } = await run('npm', ['run', '-s', 'client', '--', ...args], {
      cwd: ROOT,
      env: cliEnv,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  const baseUrl = await sim.start();
  home = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-tls-cluster-'));
  chmodSync(home, 0o755); // PostgreSQL runs as the postgres user when the tests run as root
  env = {
    ...process.env,
    CLUSTER_HOME: home,
    CLUSTER_PORT: String(await freeClusterPort(31_000, 32)),
    REPLICATE_API_TOKEN: TOKEN,
    REPLICATE_BASE_URL: baseUrl,
    OUTPUT_DIR: path.join(home, 'outputs'),
  };
  for (const key of Object.keys(env))
    if (key.startsWith('TEMPORAL_') && !key.endsWith('_PATH')) delete env[key];
  delete env.TEMPORAL_CONFIG_FILE;
  layout = layoutFrom(env);
  const { stdout } = await cluster('up', '--tls', '--workers', '1', '--no-ui');
  printed = Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => /^TEMPORAL_[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}, 45 * 60_000); // a fresh machine builds the server first (go install)

afterAll(async () => {
  if (layout && ourProcesses(layout).length > 0) await cluster('down').catch(() => undefined);
  await sim.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 120_000);

it('up --tls prints the address, the CA and the server name; the frontend speaks TLS only', async () => {
  expect(printed).toEqual({
    TEMPORAL_ADDRESS: `127.0.0.1:${layout.ports.frontend}`,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(home, 'tls', 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal-cluster',
  });
  expect(readFileSync(printed.TEMPORAL_TLS_SERVER_CA_CERT_PATH!, 'utf8')).toContain('BEGIN CERTIFICATE');
  expect(readFileSync(path.join(home, 'config', 'temporal.yaml'), 'utf8')).toMatch(/certFile: .*server\.pem/);
  // status connects over TLS too (it finds the cluster's CA itself)
  const { stdout } = await cluster('status');
  expect(stdout).toContain(`TEMPORAL_ADDRESS=${printed.TEMPORAL_ADDRESS}`);
  // the worker connected over TLS
  expect(readFileSync(path.join(home, 'logs', 'worker-1.log'), 'utf8')).toMatch(
    /worker polling task queue "replicate" on 127\.0\.0\.1:\d+ over TLS/,
  );
});

it('one prediction through the CLI over TLS, with the CA and the server name', async () => {
  const result = await cli(
    printed,
    'run',
    '--model',
    'sim/echo',
    '--input',
    JSON.stringify({ tls: 'yes' }),
    '--workflow-id',
    `tls-${Date.now().toString(36)}`,
    '--json',
  );
  expect(result.code, result.stderr).toBe(0);
  const outcome = JSON.parse(result.stdout) as { status: string; predictionId: string; output: unknown };
  expect(outcome).toMatchObject({ status: 'succeeded', output: { tls: 'yes' } });
  expect(sim.predictionIds()).toEqual([outcome.predictionId]);
}, 120_000);

it('a client without the CA is refused in one line that names the variable to set', async () => {
  const address = { TEMPORAL_ADDRESS: printed.TEMPORAL_ADDRESS! };
  const withoutCa = await cli(
    { ...address, TEMPORAL_TLS_SERVER_NAME: printed.TEMPORAL_TLS_SERVER_NAME! },
    'status',
    'no-such-run',
  );
  expect(withoutCa.code).toBe(2);
  expect(withoutCa.stderr.trim().split('\n')).toEqual([
    `error: cannot connect to Temporal at ${address.TEMPORAL_ADDRESS}: the server's certificate is not trusted (unable to verify the first certificate): set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it`,
  ]);

  const plaintext = await cli(address, 'status', 'no-such-run');
  expect(plaintext.code).toBe(2);
  const lines = plaintext.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(
    /^error: cannot connect to Temporal at .*: the server requires TLS: set TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
  );

  // a CA that did not sign the server's certificate is no better
  const otherCa = path.join(home, 'other-ca.pem');
  writeFileSync(otherCa, rootCertificates[0]!);
  const wrongCa = await cli(
    { ...printed, TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCa },
    'status',
    'no-such-run',
  );
  expect(wrongCa.code).toBe(2);
  expect(wrongCa.stderr.trim().split('\n'), wrongCa.stderr).toEqual([
    expect.stringMatching(
      /the server's certificate is not trusted .*: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it \(the one given did not\)$/,
    ),
  ]);
}, 60_000);
