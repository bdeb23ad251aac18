/**
 * The cluster's codec server without the rest of the cluster: `npm run -s codec-server` with the environment
 * `npm run cluster -- up` gives it under ENCRYPTION_KEY (scripts/cluster/cluster.ts's codecEnv) listens on loopback
 * at the layout's codec port, without a token even when the caller's shell has one (the UI could not send it), and
 * lets the cluster UI's origins call it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { codecEnv } from '../../scripts/cluster/cluster';
import { layoutFrom } from '../../scripts/cluster/layout';
import { until } from '../../scripts/cluster/temporal';
import { freeClusterPort } from './ports';

const ROOT = path.join(__dirname, '..', '..');
let child: ReturnType<typeof spawn>;
let output = '';
let url: string;
let ui: number;
const KEY = randomBytes(32).toString('base64');

beforeAll(async () => {
  const saved = { ...process.env };
  Object.assign(process.env, {
    ENCRYPTION_KEY: KEY,
    CODEC_AUTH_TOKEN: 'a-token-from-the-shell-1234',
    CODEC_HOST: '0.0.0.0',
  });
  const layout = layoutFrom({ CLUSTER_PORT: String(await freeClusterPort(26_000, 40)) });
  const env = codecEnv(layout);
  process.env = saved;
  expect(env).toMatchObject({ CODEC_HOST: '127.0.0.1', CODEC_PORT: String(layout.ports.codec) });
  expect(env.CODEC_AUTH_TOKEN).toBeUndefined();
  url = `http://127.0.0.1:${layout.ports.codec}`;
  ui = layout.ports.ui;
  // its own process group: npm, the shell and node below it stop together
  child = spawn('npm', ['run', '-s', 'codec-server'], { cwd: ROOT, env, detached: true });
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  await until('codec server answering', 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`exited: ${output}`);
    const response = await fetch(`${url}/healthz`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
  });
}, 90_000);

afterAll(async () => {
  if (!child?.pid || child.exitCode !== null) return;
  const closed = new Promise((resolve) => child.once('close', resolve));
  process.kill(-child.pid, 'SIGINT');
  await closed;
});

it('answers the cluster UI on loopback without a token, says how to use it, and never prints the key', async () => {
  for (const origin of [`http://127.0.0.1:${ui}`, `http://localhost:${ui}`]) {
    const response = await fetch(`${url}/decode`, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(response.status, origin).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(origin);
  }
  expect(output).toMatch(
    new RegExp(`codec server on ${url} for namespace default, keys [0-9a-f]{8} \\(current\\); no token`),
  );
  expect(output).toContain(`--codec-endpoint ${url}`);
  expect(output).not.toContain('a-token-from-the-shell');
  expect(output).not.toContain(KEY);
});
