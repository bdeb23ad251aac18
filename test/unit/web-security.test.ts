/**
 * The web page's guards, without a browser: files only from the output store and as inert types
 * (src/web/files.ts), the sign-in session and the CSRF token (src/web/auth.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { typeOfExtension } from '../../src/activities/output-files/content-types';
import { localOutputStore, type OutputStore } from '../../src/activities/output-files/store';
import { startHttpServer, type RunningHttpServer } from '../../src/http/server';
import { CSRF_COOKIE, SESSION_COOKIE, SESSION_MS, WebAuth } from '../../src/web/auth';
import { fileHref, keyOfFilePath, sendStoredFile, storeKeyOf } from '../../src/web/files';

const TOKEN = 'unit-test-token-0123456789';

/** A request with `headers`. */
function request(headers: Record<string, string> = {}): IncomingMessage {
  return { headers: { host: 'page.local', ...headers }, socket: {} } as unknown as IncomingMessage;
}

/** What the page answered: status and headers (a response that only records them). */
function response() {
  const headers: Record<string, unknown> = {};
  const res = {
    setHeader: (k: string, v: unknown) => void (headers[k.toLowerCase()] = v),
    getHeader: (k: string) => headers[k.toLowerCase()],
  };
  return { res, headers };
}

describe('files from the output store', () => {
  it('turns a /files/ path into a store key, refusing anything that could leave the store', () => {
    expect(keyOfFilePath('pipeline-x/gen/0-0.png')).toEqual({ key: 'pipeline-x/gen/0-0.png' });
    expect(keyOfFilePath('pipeline%25x/a%2Eb/0.png')).toEqual({ key: 'pipeline%x/a.b/0.png' });
    for (const bad of [
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e/x',
      'a/%2E%2E/b',
      'a//b',
      '.claims/x.json',
      'a/.hidden',
      'a%5Cb',
      'a%00b',
    ])
      expect(keyOfFilePath(bad), bad).toEqual({ status: 403 });
    expect(keyOfFilePath('%E0%A4%A')).toEqual({ status: 400 });
    // an encoded '/' would make one URL segment two key segments
    expect(keyOfFilePath('a%2Fb')).toEqual({ status: 403 });
  });

  it('links each key segment encoded, and finds an S3 entry key under its prefix', () => {
    expect(fileHref('/g', 'pipeline%2Fx/a b/0.png')).toBe('/g/files/pipeline%252Fx/a%20b/0.png');
    const s3Like = { objectKey: (k: string) => `my/prefix/${k}` } as unknown as OutputStore;
    expect(storeKeyOf(s3Like, 'my/prefix/pipeline-x/gen/0-0.png')).toBe('pipeline-x/gen/0-0.png');
  });

  it('serves only inert types as themselves: no SVG or HTML, anything else as an attachment', () => {
    expect(typeOfExtension('.png')).toBe('image/png');
    expect(typeOfExtension('.webm')).toBe('video/webm');
    for (const ext of ['.svg', '.html', '.js', '.xml', ''])
      expect(typeOfExtension(ext), ext).toBe('application/octet-stream');
  });

  describe('sendStoredFile', () => {
    let dir: string;
    let server: RunningHttpServer;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'web-files-'));
      const store = localOutputStore(dir);
      await store.write('p/s/0-0.png', Buffer.from('png bytes'));
      await store.write('p/s/0-1.bin', Buffer.from('<html><script>x</script></html>'));
      server = await startHttpServer(
        (req, res) => void sendStoredFile(store, req.url!.slice(1), res, false),
        { port: 0, host: '127.0.0.1' },
      );
    });
    afterAll(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('an image inline, nosniff, sandboxed', async () => {
      const r = await fetch(`${server.origin}/p/s/0-0.png`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('image/png');
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('content-security-policy')).toContain('sandbox');
      expect(r.headers.get('content-disposition')).toBeNull();
      expect(await r.text()).toBe('png bytes');
    });

    it('opaque bytes as an attachment', async () => {
      const r = await fetch(`${server.origin}/p/s/0-1.bin`);
      expect(r.headers.get('content-type')).toBe('application/octet-stream');
      expect(r.headers.get('content-disposition')).toBe('attachment; filename="0-1.bin"');
    });

    it('404 for a key the store does not hold', async () => {
      expect((await fetch(`${server.origin}/p/s/nothing.png`)).status).toBe(404);
    });
  });
});

describe('sign-in and CSRF', () => {
  const auth = new WebAuth(TOKEN, '/');

  it('takes the bearer token, or a session cookie the page signed that has not expired', () => {
    expect(auth.allows(request())).toBe(false);
    expect(auth.allows(request({ authorization: `Bearer ${TOKEN}` }))).toBe(true);
    expect(auth.allows(request({ authorization: 'Bearer nope-nope-nope-nope' }))).toBe(false);
    const r = response();
    const now = Date.parse('2030-01-01T00:00:00Z');
    auth.startSession(request(), r.res as never, now);
    const set = (r.headers['set-cookie'] as string[])[0]!;
    expect(set).toMatch(
      new RegExp(`^${SESSION_COOKIE}=\\d+\\.[A-Za-z0-9_-]+; Path=/; HttpOnly; SameSite=Strict`),
    );
    const cookie = set.split(';')[0]!;
    expect(auth.allows(request({ cookie }), now + 1000)).toBe(true);
    expect(auth.allows(request({ cookie }), now + SESSION_MS + 1)).toBe(false);
    const [name, value] = cookie.split('=') as [string, string];
    const [expires, sig] = value.split('.') as [string, string];
    expect(auth.allows(request({ cookie: `${name}=${Number(expires) + 1000}.${sig}` }), now)).toBe(false);
    // another token's sessions are not this one's
    expect(new WebAuth(`${TOKEN}-other`, '/').allows(request({ cookie }), now)).toBe(false);
  });

  it('a form token is bound to its visitor cookie and checked against the Origin', () => {
    const r = response();
    const req = request();
    const token = auth.csrfToken(req, r.res as never);
    const cookie = (r.headers['set-cookie'] as string[])[0]!.split(';')[0]!;
    expect(cookie.startsWith(`${CSRF_COOKIE}=`)).toBe(true);
    expect(auth.csrfValid(request({ cookie }), token)).toBe(true);
    expect(auth.csrfValid(request({ cookie, origin: 'http://page.local' }), token)).toBe(true);
    expect(auth.csrfValid(request({ cookie, origin: 'http://evil.example' }), token)).toBe(false);
    expect(auth.csrfValid(request({ cookie }), null)).toBe(false);
    expect(auth.csrfValid(request(), token)).toBe(false);
    expect(auth.csrfValid(request({ cookie: `${CSRF_COOKIE}=${'x'.repeat(32)}` }), token)).toBe(false);
  });

  it('without a token, everyone on this machine is allowed (the server binds loopback only)', () => {
    expect(new WebAuth(undefined, '/').allows(request())).toBe(true);
  });
});
