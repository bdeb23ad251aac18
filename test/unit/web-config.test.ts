/**
 * The web page's configuration (src/config/web.ts) and its loopback rule: any address but this machine's needs
 * WEB_AUTH_TOKEN, from the environment (the `web` command exits 2) and from the library (startWebServer refuses).
 */
import { Client } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../../src/cli';
import { ConfigError } from '../../src/config';
import { DEFAULT_WEB_PORT, readWebConfig, temporalUiUrl } from '../../src/config/web';
import { startWebServer } from '../../src/web';

const TOKEN = 'a-web-token-of-32-characters-abcd';

describe('readWebConfig', () => {
  it('binds 127.0.0.1:8080 by default, with no token, outputs from ./outputs', () => {
    const c = readWebConfig({});
    expect(c).toMatchObject({ port: DEFAULT_WEB_PORT, host: '127.0.0.1', outputs: 'outputs' });
    expect(c.authToken).toBeUndefined();
    expect(readWebConfig({ OUTPUT_URL: 's3://bucket/p', OUTPUT_DIR: '/x' }).outputs).toBe('s3://bucket/p');
  });

  it.each([
    [{ WEB_HOST: '0.0.0.0' }, 'WEB_HOST="0.0.0.0" is not a loopback address and WEB_AUTH_TOKEN is not set'],
    [{ WEB_HOST: '192.168.1.5' }, 'set WEB_AUTH_TOKEN'],
    [{ WEB_AUTH_TOKEN: 'short' }, 'WEB_AUTH_TOKEN must be at least 16 characters'],
    [{ WEB_PORT: '80a' }, 'WEB_PORT="80a" must be a port number'],
    [{ TEMPORAL_UI_URL: 'ftp://x' }, 'TEMPORAL_UI_URL="ftp://x" must be an http(s) URL'],
  ])('refuses %j', (env, message) => {
    expect(() => readWebConfig(env)).toThrow(ConfigError);
    expect(() => readWebConfig(env)).toThrow(message);
  });

  it('binds another address with a token', () => {
    expect(readWebConfig({ WEB_HOST: '0.0.0.0', WEB_AUTH_TOKEN: TOKEN })).toMatchObject({
      host: '0.0.0.0',
      authToken: TOKEN,
    });
  });

  it("links the Temporal UI: TEMPORAL_UI_URL, else a local server's port + 1000", () => {
    expect(temporalUiUrl({}, '127.0.0.1:7233')).toBe('http://127.0.0.1:8233');
    expect(temporalUiUrl({}, 'localhost:7300')).toBe('http://localhost:8300');
    expect(temporalUiUrl({}, 'temporal.example.com:7233')).toBeNull();
    expect(temporalUiUrl({ TEMPORAL_UI_URL: 'https://ui.example.com/' }, 'x:7233')).toBe(
      'https://ui.example.com',
    );
  });
});

it('`web --help` lists its settings', async () => {
  const out: string[] = [];
  const code = await runCli(['web', '--help'], {
    client: async () => {
      throw new Error('not reached');
    },
    taskQueue: 'q',
    out: (line) => out.push(line),
    err: (line) => out.push(line),
  });
  expect(code).toBe(EXIT.ok);
  for (const name of ['client -- web', 'WEB_PORT', 'WEB_HOST', 'WEB_AUTH_TOKEN', 'TEMPORAL_UI_URL'])
    expect(out.join('\n')).toContain(name);
});

describe('a non-loopback page without a token', () => {
  it('`web` exits 2 naming WEB_AUTH_TOKEN, before connecting to Temporal', async () => {
    const err: string[] = [];
    let connected = false;
    const code = await runCli(['web'], {
      client: async () => {
        connected = true;
        throw new Error('not reached');
      },
      taskQueue: 'q',
      out: () => undefined,
      err: (line) => err.push(line),
      env: { WEB_HOST: '0.0.0.0' },
    });
    expect(code).toBe(EXIT.usage);
    expect(err.join('\n')).toContain('WEB_AUTH_TOKEN is not set');
    expect(connected).toBe(false);
  });

  it('startWebServer refuses it too', async () => {
    const client = new Client({ connection: {} as never });
    await expect(startWebServer({ client, port: 0, host: '0.0.0.0' })).rejects.toThrow(
      'needs an auth token (WEB_AUTH_TOKEN)',
    );
  });
});
