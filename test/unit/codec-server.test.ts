/**
 * The codec server (src/encryption/codec-server.ts) over HTTP on loopback, and its configuration: the remote codec
 * protocol, the token, CORS, the loopback rule, the namespace header, the limits.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config';
import { readCodecServerConfig } from '../../src/config/codec-server';
import { EncryptionCodec } from '../../src/encryption/codec';
import {
  CODEC_MAX_BODY_BYTES,
  startCodecServer,
  type RunningCodecServer,
} from '../../src/encryption/codec-server';
import { encryptionKeyId } from '../../src/encryption/keys';

const key = randomBytes(32);
const TOKEN = randomBytes(24).toString('hex');
const UI = 'http://localhost:8233';
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

async function sealedJson(value: unknown, keys = { current: key }): Promise<string> {
  const [p] = await new EncryptionCodec(keys).encode([defaultPayloadConverter.toPayload(value)]);
  return JSON.stringify({
    payloads: [
      {
        metadata: Object.fromEntries(Object.entries(p!.metadata!).map(([k, v]) => [k, b64(v)])),
        data: b64(p!.data!),
      },
    ],
  });
}

describe('codec server', () => {
  let server: RunningCodecServer;
  const lines: string[] = [];
  beforeAll(async () => {
    server = await startCodecServer({
      port: 0,
      host: '127.0.0.1',
      authToken: TOKEN,
      corsOrigins: [UI],
      namespace: 'default',
      keys: { current: key },
      log: (line) => lines.push(line),
    });
  });
  afterAll(() => server?.stop());

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
      body,
    });

  it('decodes and encodes proto3 JSON payloads, under any path prefix', async () => {
    const decoded = await post('/default/decode', await sealedJson({ prompt: 'hello' }), {
      'x-namespace': 'default',
    });
    expect(decoded.status).toBe(200);
    const { payloads } = (await decoded.json()) as {
      payloads: Array<{ metadata: Record<string, string>; data: string }>;
    };
    expect(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString())).toEqual({ prompt: 'hello' });

    const encoded = await post('/encode', JSON.stringify({ payloads }));
    const sealed = ((await encoded.json()) as { payloads: Array<{ metadata: Record<string, string> }> })
      .payloads[0]!;
    expect(Buffer.from(sealed.metadata['encryption-key-id']!, 'base64').toString()).toBe(
      encryptionKeyId(key),
    );
    // `{}` is an empty Payloads message in proto3 JSON (a query without arguments)
    expect(await (await post('/decode', '{}')).json()).toEqual({ payloads: [] });
    // unencrypted payloads come back as they are
    const plain = JSON.stringify({
      payloads: [{ metadata: { encoding: b64(Buffer.from('json/plain')) }, data: b64(Buffer.from('1')) }],
    });
    expect(await (await post('/decode', plain)).json()).toEqual(JSON.parse(plain));
  });

  it('needs the bearer token: 401 without it or with another, with WWW-Authenticate', async () => {
    const body = await sealedJson('secret');
    for (const authorization of ['', 'Bearer wrong-token-wrong-token', `Basic ${TOKEN}`, TOKEN]) {
      const response = await post('/decode', body, { authorization });
      expect(response.status, authorization).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.text()).not.toContain(b64(Buffer.from('"secret"')));
    }
  });

  it('answers browsers from the configured origin only, preflight included', async () => {
    const preflight = await fetch(`${server.origin}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: UI,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    expect(preflight.status).toBe(204);
    const names = ['origin', 'methods', 'headers', 'credentials'].map((n) => `access-control-allow-${n}`);
    expect(names.map((n) => preflight.headers.get(n))).toEqual([
      UI,
      'POST, OPTIONS',
      'content-type, x-namespace, authorization',
      'true',
    ]);
    const fromUi = await post('/decode', await sealedJson(1), { origin: UI });
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI);
    for (const origin of ['http://evil.example', 'http://localhost:8234', 'null']) {
      const response = await post('/decode', await sealedJson(1), { origin });
      expect(response.status, origin).toBe(403);
      expect(response.headers.get('access-control-allow-origin')).toBeNull();
    }
    expect(lines.join('\n')).toMatch(/refused a request from origin http:\/\/evil\.example/);
  });

  it('refuses another namespace, other content types, bad bodies, big bodies; 422 names an unknown key', async () => {
    expect((await post('/decode', '{}', { 'x-namespace': 'other' })).status).toBe(403);
    expect((await post('/decode', '{}', { 'content-type': 'text/plain' })).status).toBe(415);
    for (const bad of ['nope', '[]', '{"payloads": 3}', '{"payloads": [{"data": "!!"}]}']) {
      const response = await post('/decode', bad);
      expect(response.status, bad).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/payloads|JSON/);
    }
    const tooBig = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.origin}/decode`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${TOKEN}`,
          'content-length': CODEC_MAX_BODY_BYTES + 1,
        },
      });
      req.on('response', (res) => resolve(res.statusCode!));
      req.on('error', reject);
      req.write('{');
    });
    expect(tooBig).toBe(413);
    const other = randomBytes(32);
    const unknown = await post('/decode', await sealedJson('x', { current: other }));
    expect(unknown.status).toBe(422);
    expect(((await unknown.json()) as { error: string }).error).toContain(`key id ${encryptionKeyId(other)}`);
    expect((await fetch(`${server.origin}/decode`)).status).toBe(405);
    expect((await fetch(`${server.origin}/elsewhere`, { method: 'POST' })).status).toBe(404);
    expect(await (await fetch(`${server.origin}/healthz`)).json()).toEqual({ ok: true });
  });

  it('without a token: loopback Host names only (no DNS rebinding through a web page)', async () => {
    const open = await startCodecServer({
      port: 0,
      host: '127.0.0.1',
      corsOrigins: [],
      namespace: 'default',
      keys: { current: key },
    });
    try {
      const status = (host: string) =>
        new Promise<number>((resolve, reject) => {
          const body = '{}';
          const req = request(`${open.origin}/decode`, {
            method: 'POST',
            headers: { host, 'content-type': 'application/json', 'content-length': body.length },
          });
          req.on('response', (res) => resolve(res.statusCode!));
          req.on('error', reject);
          req.end(body);
        });
      expect(await status(new URL(open.origin).host)).toBe(200);
      expect(await status('localhost:1234')).toBe(200);
      expect(await status('attacker.example:1234')).toBe(403);
    } finally {
      await open.stop();
    }
  });
});

describe('readCodecServerConfig', () => {
  const env = { ENCRYPTION_KEY: key.toString('base64') };

  it('defaults to 127.0.0.1:8888 with no token and no browser origin; reads every variable', () => {
    expect(readCodecServerConfig(env)).toEqual({
      port: 8888,
      host: '127.0.0.1',
      corsOrigins: [],
      namespace: 'default',
      keys: { current: key },
    });
    expect(
      readCodecServerConfig({
        ...env,
        CODEC_PORT: '9999',
        CODEC_HOST: '0.0.0.0',
        CODEC_AUTH_TOKEN: TOKEN,
        CODEC_CORS_ORIGIN: 'http://localhost:8233, https://temporal.example.com',
        TEMPORAL_NAMESPACE: 'prod',
      }),
    ).toMatchObject({
      port: 9999,
      host: '0.0.0.0',
      authToken: TOKEN,
      corsOrigins: [UI, 'https://temporal.example.com'],
      namespace: 'prod',
    });
  });

  it('refuses what would expose the keys or cannot work, in one line naming the variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /^ENCRYPTION_KEY is not set: the codec server decrypts with the workers' keys/],
      [
        { ...env, CODEC_HOST: '0.0.0.0' },
        /^CODEC_HOST="0\.0\.0\.0" is not a loopback address and CODEC_AUTH_TOKEN is not set/,
      ],
      [{ ...env, CODEC_HOST: '10.1.2.3' }, /CODEC_AUTH_TOKEN is not set/],
      [{ ...env, CODEC_AUTH_TOKEN: 'short' }, /^CODEC_AUTH_TOKEN must be at least 16 characters/],
      [{ ...env, CODEC_PORT: 'http' }, /^CODEC_PORT="http" must be a port number/],
      [
        { ...env, CODEC_CORS_ORIGIN: 'http://localhost:8233/ui' },
        /^CODEC_CORS_ORIGIN: "http:\/\/localhost:8233\/ui" is not an origin/,
      ],
      [{ ...env, CODEC_CORS_ORIGIN: '*' }, /is not an origin/],
    ];
    for (const [vars, message] of cases) {
      expect(() => readCodecServerConfig(vars)).toThrow(ConfigError);
      expect(() => readCodecServerConfig(vars)).toThrow(message);
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      expect(readCodecServerConfig({ ...env, CODEC_HOST: host }).host).toBe(host);
  });
});
