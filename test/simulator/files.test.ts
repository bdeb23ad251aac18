// The files API (the description's files.* operations): uploads, list, get, delete, signed downloads, the 24-hour
// expiry and the size limit.
import { createHash } from 'node:crypto';
import Replicate from 'replicate';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FileView } from '../../simulator';
import { DEFAULT_MAX_FILE_BYTES } from '../../simulator/files';
import { TOKEN, call, clockedSimulator } from './helpers';

const { sim, clock, advance } = clockedSimulator({ pageSize: 2, maxFileBytes: 1024 });
let base = '';
beforeAll(async () => {
  base = await sim.start();
});
afterAll(() => sim.stop());
beforeEach(() => sim.reset());

const auth = { authorization: `Bearer ${TOKEN}` };
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** POST /files with a multipart body built by the platform's FormData. */
async function upload(form: FormData, headers: Record<string, string> = auth) {
  const r = await fetch(`${base}/files`, { method: 'POST', headers, body: form });
  return {
    status: r.status,
    type: r.headers.get('content-type'),
    json: (await r.json()) as Record<string, unknown>,
  };
}

function formOf(content: string, fields: Record<string, string> = {}, filename = 'notes.txt'): FormData {
  const form = new FormData();
  form.append('content', new Blob([content], { type: 'text/plain' }), filename);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

describe('POST /v1/files', () => {
  it('answers 201 with the file resource, as recorded traffic shows it', async () => {
    const r = await upload(formOf('hello', { metadata: '{"customer_reference_id":123}' }));
    expect(r.status).toBe(201);
    const file = r.json as unknown as FileView;
    expect(Object.keys(file).sort()).toEqual(
      [
        'checksums',
        'content_type',
        'created_at',
        'etag',
        'expires_at',
        'id',
        'metadata',
        'name',
        'size',
        'urls',
      ].sort(),
    );
    expect(file).toMatchObject({
      name: 'notes.txt',
      content_type: 'text/plain',
      size: 5,
      etag: md5('hello'),
      checksums: { sha256: sha256('hello'), md5: md5('hello') },
      metadata: { customer_reference_id: 123 },
      urls: { get: `${base}/files/${file.id}` },
    });
    expect(file.id).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(Date.parse(file.expires_at) - Date.parse(file.created_at)).toBe(24 * 60 * 60 * 1000);
    expect(Date.parse(file.created_at)).toBe(clock.t);
    expect(sim.requests.at(-1)).toMatchObject({
      route: 'files.create',
      status: 201,
      body: { filename: 'notes.txt', type: 'text/plain', size: 5, metadata: { customer_reference_id: 123 } },
    });
  });

  it('takes the filename and type fields over the part, and defaults the type to application/octet-stream', async () => {
    const named = await upload(formOf('x', { filename: 'renamed.bin', type: 'image/png' }));
    expect(named.json).toMatchObject({ name: 'renamed.bin', content_type: 'image/png', metadata: {} });
    const form = new FormData();
    form.append('content', new Blob([Buffer.from([1, 2, 3])]), 'raw');
    expect((await upload(form)).json).toMatchObject({
      name: 'raw',
      content_type: 'application/octet-stream',
      size: 3,
    });
  });

  it("accepts the official npm client's upload (metadata as a JSON part)", async () => {
    const replicate = new Replicate({ auth: TOKEN, baseUrl: base, useFileOutput: false });
    const file = await replicate.files.create(Buffer.from('from the client'), { purpose: 'test' });
    expect(file).toMatchObject({
      size: 15,
      checksums: { sha256: sha256('from the client') },
      metadata: { purpose: 'test' },
    });
    expect((await replicate.files.get(file.id)).id).toBe(file.id);
    expect(await replicate.files.delete(file.id)).toBe(true);
  });

  it('rejects a bad upload with 400 naming the field, and needs a token', async () => {
    const noContent = new FormData();
    noContent.append('filename', 'a.txt');
    const cases: [FormData, RegExp][] = [
      [noContent, /content is required/],
      [formOf('x', { metadata: '{not json' }), /metadata must be valid JSON/],
      [formOf('x', { metadata: '[1]' }), /metadata must be a JSON object/],
      [formOf('x', {}, 'é'.repeat(128)), /filename must be valid UTF-8 of at most 255 bytes/],
    ];
    for (const [form, detail] of cases) {
      const r = await upload(form);
      expect(r.status, String(detail)).toBe(400);
      expect(r.type).toBe('application/problem+json');
      expect(r.json.detail).toMatch(detail);
    }
    const json = await call(base, 'POST', '/files', { content: 'x' });
    expect(json.status).toBe(400);
    expect(json.json.detail).toMatch(/multipart\/form-data/);
    expect((await upload(formOf('x'), {})).status).toBe(401);
    expect(sim.requests.filter((r) => r.status === 201)).toHaveLength(0);
  });

  it('answers 413 for a file over the limit (default 100 MiB), storing nothing', async () => {
    expect(DEFAULT_MAX_FILE_BYTES).toBe(100 * 1024 * 1024);
    const r = await upload(formOf('x'.repeat(1025)));
    expect(r.status).toBe(413);
    expect(r.type).toBe('application/problem+json');
    expect(r.json.detail).toBe('Files must be less than 1024 bytes in size');
    const huge = await upload(formOf('x'.repeat(200_000)));
    expect(huge.status).toBe(413);
    expect((await call(base, 'GET', '/files')).json.results).toEqual([]);
    expect((await upload(formOf('x'.repeat(1024)))).status).toBe(201);
  });
});

describe('GET, DELETE, list and download', () => {
  async function three(): Promise<FileView[]> {
    const out: FileView[] = [];
    for (const n of [1, 2, 3]) {
      out.push((await upload(formOf(`file ${n}`, {}, `${n}.txt`))).json as unknown as FileView);
      advance(1000);
    }
    return out;
  }

  it('lists newest first in pages with absolute cursor links', async () => {
    const files = await three();
    const first = await call(base, 'GET', '/files');
    expect(first.status).toBe(200);
    expect((first.json.results as FileView[]).map((f) => f.name)).toEqual(['3.txt', '2.txt']);
    expect(first.json.previous).toBeNull();
    expect(String(first.json.next)).toMatch(new RegExp(`^${base}/files\\?cursor=`));
    const second = await call(base, 'GET', String(first.json.next));
    expect((second.json.results as FileView[]).map((f) => f.id)).toEqual([files[0]!.id]);
    expect(second.json.next).toBeNull();
    expect(String(second.json.previous)).toMatch(new RegExp(`^${base}/files\\?cursor=`));
  });

  it('gets a file, deletes it (204), and then every route answers 404 File not found', async () => {
    const [file] = await three();
    const got = await call(base, 'GET', `/files/${file!.id}`);
    expect(got.json).toEqual(file);
    const url = sim.fileDownloadUrl(file!.id);
    expect((await fetch(url)).status).toBe(200);

    const deleted = await fetch(`${base}/files/${file!.id}`, { method: 'DELETE', headers: auth });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    for (const [method, path] of [
      ['GET', `/files/${file!.id}`],
      ['DELETE', `/files/${file!.id}`],
    ] as const) {
      const r = await call(base, method, path);
      expect(r.status, method).toBe(404);
      expect(r.json).toEqual({ detail: 'File not found', status: 404 });
    }
    expect((await fetch(url)).status).toBe(404);
    expect((await call(base, 'GET', '/files')).json.results).toHaveLength(2);
    expect(sim.file(file!.id)).toBeUndefined();
  });

  it('downloads with a signed URL and no token; a bad or expired signature is 404', async () => {
    const [file] = await three();
    const url = new URL(sim.fileDownloadUrl(file!.id, 60_000));
    expect(url.pathname).toBe(`/v1/files/${file!.id}/download`);
    expect([...url.searchParams.keys()].sort()).toEqual(['expiry', 'owner', 'signature']);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/octet-stream');
    expect(await ok.text()).toBe('file 1');

    const tampered = new URL(url);
    tampered.searchParams.set('expiry', String(Number(url.searchParams.get('expiry')) + 3600));
    const unsigned = new URL(url);
    unsigned.searchParams.delete('signature');
    const otherFile = new URL(url.toString().replace(file!.id, (await three())[0]!.id));
    for (const bad of [tampered, unsigned, otherFile]) {
      const r = await fetch(bad);
      expect(r.status, bad.toString()).toBe(404);
      expect(await r.json()).toEqual({ detail: 'File not found', status: 404 });
    }
    advance(61_000);
    expect((await fetch(url)).status).toBe(404); // the URL's own expiry has passed
  });

  it('expires 24 hours after creation on the simulator clock', async () => {
    const [file] = await three();
    const url = sim.fileDownloadUrl(file!.id, 48 * 3600_000);
    advance(24 * 3600_000 - 3_001); // the first file is now 1 ms short of 24 h old
    expect((await call(base, 'GET', `/files/${file!.id}`)).status).toBe(200);
    advance(1);
    expect((await call(base, 'GET', `/files/${file!.id}`)).status).toBe(404);
    expect((await fetch(url)).status).toBe(404);
    expect((await call(base, 'GET', '/files')).json.results).toHaveLength(2);
  });
});
