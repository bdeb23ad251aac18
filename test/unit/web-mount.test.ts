/**
 * The web page mounted in a user's own Express app under a path (`replicate-temporal/web`'s createWebHandler): its
 * links, assets, cookies and refusals all live under that path. No Temporal server: the list says it failed.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWebHandler, type WebHandler } from '../../src/web';

let server: Server;
let web: WebHandler;
let origin: string;

beforeAll(async () => {
  // a server nobody answers on: every Temporal call fails at once
  const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  web = createWebHandler({
    client,
    basePath: '/generations',
    outputs: '/nonexistent-outputs',
    log: () => undefined,
  });
  const app = express();
  app.get('/', (_req, res) => void res.send('the app'));
  app.use('/generations', web.listener);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await web?.close();
  await new Promise((resolve) => server?.close(resolve));
});

it('serves its pages, links and cookies under the mount path, next to the app', async () => {
  expect(await (await fetch(`${origin}/`)).text()).toBe('the app');
  const home = await fetch(`${origin}/generations/`);
  expect(home.status).toBe(200);
  expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
  expect(home.headers.get('set-cookie')).toMatch(
    /^rt_csrf=[\w-]+; Path=\/generations; HttpOnly; SameSite=Strict/,
  );
  const page = await home.text();
  expect(page).toContain('<script src="/generations/assets/live.js" defer></script>');
  expect(page).toContain('data-live="/generations/events/home"');
  expect(page).toContain('the list failed'); // no Temporal here
  const script = await fetch(`${origin}/generations/assets/live.js`);
  expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  expect(await script.text()).toContain('EventSource');
  expect((await fetch(`${origin}/generations/assets/web.css`)).status).toBe(200);
});

it('refuses what it must under the mount path too', async () => {
  // a dot-dot the URL parser resolves leaves the mount (404); one it cannot see is refused (403)
  expect((await fetch(`${origin}/generations/files/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
  expect((await fetch(`${origin}/generations/files/x%2F..%2F..%2Fetc/passwd`)).status).toBe(403);
  expect((await fetch(`${origin}/generations/nothing`)).status).toBe(404);
  const post = await fetch(`${origin}/generations/runs/x/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'csrf=forged',
  });
  expect(post.status).toBe(403);
  const big = await fetch(`${origin}/generations/runs/x/cancel`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `csrf=${'x'.repeat(20_000)}`,
  });
  expect(big.status).toBe(413);
});
