/**
 * Output persistence (src/activities/outputs.ts) in a mocked activity context: which origins may be fetched
 * (every redirect hop included), how pipeline ids and step names map to folders, heartbeats while a download
 * waits, and resuming a retried attempt from its heartbeat details. (About 400 lines: one local HTTP server
 * fixture shared by all of them.)
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOutputActivities,
  folderName,
  type ManifestEntry,
  type OutputConfig,
  type PersistArgs,
} from '../../src/activities/outputs';
import { claimKey, fileClaimStore, signClaim } from '../../src/activities/claims';
import { ConfigError, readWorkerConfig } from '../../src/config';
import { PERSIST_ACTIVITY } from '../../src/shared/pipeline';

/** A local HTTP server with scripted routes; records every path it was asked for. */
interface Local {
  origin: string;
  hits: string[];
  server: Server;
}
type Route = (
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
) => void | Promise<void>;

async function local(routes: Record<string, Route>): Promise<Local> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const route = routes[req.url ?? ''];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    void route(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
}

const servers: Local[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((resolve) => s.server.close(resolve));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function outputDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'outputs-test-'));
  dirs.push(d);
  return d;
}

const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const file =
  (body: Buffer = PNG): Route =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(body.length) });
    res.end(body);
  };

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

async function failureFrom(p: Promise<unknown>): Promise<ApplicationFailure> {
  const error = await p.then(
    (value) => new Error(`expected a failure, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  if (!(error instanceof ApplicationFailure)) throw error;
  return error;
}

const args = (output: unknown, more: Partial<PersistArgs> = {}): PersistArgs => ({
  pipelineId: 'p-1',
  step: 'gen',
  index: 0,
  predictionId: 'pred-1',
  output,
  ...more,
});

describe('allowed origins (SSRF)', () => {
  let api: Local;
  let internal: Local;
  let extra: Local;
  beforeAll(async () => {
    internal = await local({ '/_sim/state': file(Buffer.from('{"secret":"admin state"}')) });
    api = await local({
      '/files/a/out-0.png': file(),
      '/files/a/redirect-out': (_req, res) => {
        res.writeHead(302, { location: `${internal.origin}/_sim/state` }).end();
      },
      '/files/a/redirect-in': (_req, res) => {
        res.writeHead(301, { location: '/files/a/out-0.png' }).end();
      },
      '/files/a/loop': (_req, res) => {
        res.writeHead(302, { location: '/files/a/loop' }).end();
      },
    });
    extra = await local({ '/cdn/x.png': file() });
    servers.push(api, internal, extra);
  });
  afterEach(() => {
    for (const s of [api, internal, extra]) s.hits.length = 0;
  });

  const config = (dir: string, more: Partial<OutputConfig> = {}): OutputConfig => ({
    outputDir: dir,
    allowedOrigins: [`${api.origin}`],
    ...more,
  });

  it('refuses an output on another origin with a non-retryable typed error naming the URL and the fix; fetches and writes nothing', async () => {
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities(config(dir));
    const bad = `${internal.origin}/_sim/state`;
    const failure = await failureFrom(
      new MockActivityEnvironment().run(persistOutputs, args([`${api.origin}/files/a/out-0.png`, bad])),
    );
    expect(failure.type).toBe('OutputOriginNotAllowed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(bad);
    expect(failure.message).toContain('OUTPUT_ALLOWED_ORIGINS');
    expect(internal.hits).toEqual([]);
    expect(api.hits).toEqual([]); // checked before anything is fetched
    expect(filesUnder(dir)).toEqual([]);
  });

  it('refuses a redirect from an allowed origin to a disallowed one, and never asks the target', async () => {
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities(config(dir));
    const failure = await failureFrom(
      new MockActivityEnvironment().run(persistOutputs, args(`${api.origin}/files/a/redirect-out`)),
    );
    expect(failure.type).toBe('OutputOriginNotAllowed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(`${internal.origin}/_sim/state`);
    expect(failure.message).toContain('redirect');
    expect(api.hits).toEqual(['/files/a/redirect-out']);
    expect(internal.hits).toEqual([]);
    expect(filesUnder(dir)).toEqual([]);
  });

  it('follows a redirect within allowed origins, and gives up on a redirect loop', async () => {
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities(config(dir));
    const entries: ManifestEntry[] = await new MockActivityEnvironment().run(
      persistOutputs,
      args(`${api.origin}/files/a/redirect-in`),
    );
    expect(entries).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'p-1', entries[0]!.path))).toEqual(PNG);
    expect(api.hits).toEqual(['/files/a/redirect-in', '/files/a/out-0.png']);

    api.hits.length = 0;
    const loop = await failureFrom(
      new MockActivityEnvironment().run(persistOutputs, args(`${api.origin}/files/a/loop`, { step: 'loop' })),
    );
    expect(loop.nonRetryable).toBe(true);
    expect(loop.message).toMatch(/redirects/);
    expect(api.hits.length).toBeLessThanOrEqual(6);
  });

  it('a data: URI with a malformed % escape fails at once as OutputUnavailable, not retried', async () => {
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities(config(dir));
    const failure = await failureFrom(
      new MockActivityEnvironment().run(
        persistOutputs,
        args(['data:text/plain,100%', 'data:text/plain,%E0%A4%A']),
      ),
    );
    expect(failure.type).toBe('OutputUnavailable');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/malformed %-escape/);
    expect(filesUnder(dir)).toEqual([]);
  });

  it('accepts origins the operator added, and data: URIs; Replicate delivery hosts are allowed by default', async () => {
    const dir = outputDir();
    const seen: string[] = [];
    const { persistOutputs } = createOutputActivities(
      config(dir, {
        allowedOrigins: [api.origin, extra.origin],
        // stand-in for the network: answer delivery hosts without leaving the machine
        fetch: async (input, init) => {
          const url = String(input);
          seen.push(url);
          if (url.startsWith(extra.origin)) return fetch(input, init);
          return new Response(PNG, { headers: { 'content-type': 'image/png' } });
        },
      }),
    );
    const outputs = [
      `${extra.origin}/cdn/x.png`,
      'https://replicate.delivery/pbxt/abc/out-0.png',
      'https://pbxt.replicate.delivery/abc/out-1.png',
      'data:text/plain;base64,aGk=',
    ];
    const entries: ManifestEntry[] = await new MockActivityEnvironment().run(persistOutputs, args(outputs));
    expect(entries.map((e) => e.bytes)).toEqual([PNG.length, PNG.length, PNG.length, 2]);
    expect(seen).toEqual(outputs.slice(0, 3));

    // not a delivery host: look-alikes, other schemes and ports
    for (const bad of [
      'https://replicate.delivery.evil.com/x.png',
      'https://evilreplicate.delivery/x.png',
      'http://replicate.delivery/x.png',
      'https://replicate.delivery:8443/x.png',
    ]) {
      const failure = await failureFrom(new MockActivityEnvironment().run(persistOutputs, args(bad)));
      expect(failure.type, bad).toBe('OutputOriginNotAllowed');
    }
    expect(seen).toHaveLength(3);
  });
});

describe('output folders', () => {
  let api: Local;
  beforeAll(async () => {
    api = await local({ '/f.png': file() });
    servers.push(api);
  });

  it('keeps ids such as .. inside OUTPUT_DIR', async () => {
    const root = outputDir();
    const dir = path.join(root, 'out');
    const { persistOutputs, writeManifest } = createOutputActivities({
      outputDir: dir,
      allowedOrigins: [api.origin],
    });
    const env = new MockActivityEnvironment();
    for (const id of ['..', '../..', '.', '/etc', 'a/../../b']) {
      await env.run(persistOutputs, args(`${api.origin}/f.png`, { pipelineId: id, step: '..' }));
      const manifest: string = await env.run(writeManifest, id, { id });
      expect(path.relative(dir, manifest).startsWith('..'), manifest).toBe(false);
    }
    // nothing landed outside OUTPUT_DIR
    expect(filesUnder(root).every((f) => f.startsWith(`out${path.sep}`))).toBe(true);
    expect(filesUnder(root)).toHaveLength(10);
  });

  it('maps different ids to different folders (clash/1 vs clash_1) and step names likewise', async () => {
    const dir = outputDir();
    const { persistOutputs, writeManifest } = createOutputActivities({
      outputDir: dir,
      allowedOrigins: [api.origin],
    });
    const env = new MockActivityEnvironment();
    const ids = ['clash/1', 'clash_1', 'clash.1', 'clash%2F1', 'Clash_1'];
    const manifests = new Set<string>();
    for (const id of ids) {
      await env.run(persistOutputs, args(`${api.origin}/f.png`, { pipelineId: id, step: 'a-b' }));
      await env.run(persistOutputs, args(`${api.origin}/f.png`, { pipelineId: id, step: 'a_b' }));
      manifests.add((await env.run(writeManifest, id, { id })) as string);
    }
    expect(manifests.size).toBe(ids.length);
    for (const m of manifests) {
      const { id } = JSON.parse(readFileSync(m, 'utf8')) as { id: string };
      expect(path.basename(path.dirname(m))).toBe(folderName(id));
    }
    // 5 pipelines x (2 step folders with one file + a manifest)
    expect(filesUnder(dir)).toHaveLength(15);
    expect(new Set(ids.map(folderName)).size).toBe(ids.length);
  });

  it('names long ids with a hash suffix that fits a file name and stays one-to-one', () => {
    const a = `${'x'.repeat(990)}a`;
    const b = `${'x'.repeat(990)}b`;
    const c = 'é'.repeat(400); // 800 bytes, 2400 characters encoded
    for (const id of [a, b, c]) expect(Buffer.byteLength(folderName(id))).toBeLessThanOrEqual(255);
    expect(folderName(a)).not.toBe(folderName(b));
    expect(folderName('plain-Id_09')).toBe('plain-Id_09'); // common ids keep their name
    expect(folderName('a.b/c%')).toBe('a%2Eb%2Fc%25');
  });
});

describe('heartbeats and resuming', () => {
  it('heartbeats while waiting for a slow answer, so the heartbeat timeout only catches a dead worker', async () => {
    let sentHeadersAt = 0;
    const slow = await local({
      '/slow.png': async (_req, res) => {
        await new Promise((resolve) => setTimeout(resolve, 1_200));
        sentHeadersAt = Date.now();
        void file()(_req, res);
      },
    });
    servers.push(slow);
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities({
      outputDir: dir,
      allowedOrigins: [slow.origin],
      heartbeatIntervalMs: 100,
    });
    const env = new MockActivityEnvironment();
    const beats: number[] = [];
    env.on('heartbeat', () => beats.push(Date.now()));
    await env.run(persistOutputs, args(`${slow.origin}/slow.png`));
    expect(beats.filter((t) => t < sentHeadersAt).length).toBeGreaterThanOrEqual(5);
    // the workflow's heartbeat timeout leaves room for several beats; a stalled stream is the idle timeout's job
    expect(PERSIST_ACTIVITY.heartbeatTimeoutMs).toBeGreaterThanOrEqual(
      PERSIST_ACTIVITY.heartbeatIntervalMs * 3,
    );
  });

  it('a retry resumes from the heartbeat details: files already persisted and verified are not downloaded again', async () => {
    let failSecond = true;
    const flaky = await local({
      '/0.png': file(Buffer.from('zero')),
      '/1.png': (req, res) => {
        if (failSecond) {
          failSecond = false;
          res.writeHead(503).end();
          return;
        }
        void file(Buffer.from('one'))(req, res);
      },
      '/2.png': file(Buffer.from('two')),
    });
    servers.push(flaky);
    const dir = outputDir();
    const { persistOutputs } = createOutputActivities({ outputDir: dir, allowedOrigins: [flaky.origin] });
    const output = ['/0.png', '/1.png', '/2.png'].map((p) => `${flaky.origin}${p}`);

    const first = new MockActivityEnvironment();
    const details: unknown[] = [];
    first.on('heartbeat', (d: unknown) => details.push(d));
    const failure = await failureFrom(first.run(persistOutputs, args(output)));
    expect(failure.nonRetryable).toBe(false);
    expect(flaky.hits).toEqual(['/0.png', '/1.png']);

    // attempt 2 gets the last heartbeat details recorded by attempt 1
    flaky.hits.length = 0;
    const second = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: details.at(-1) });
    const entries: ManifestEntry[] = await second.run(persistOutputs, args(output));
    expect(flaky.hits).toEqual(['/1.png', '/2.png']);
    expect(entries.map((e) => readFileSync(path.join(dir, 'p-1', e.path), 'utf8'))).toEqual([
      'zero',
      'one',
      'two',
    ]);
    expect(entries[0]!.sha256).toBe(createHash('sha256').update('zero').digest('hex'));

    // a file changed on disk since it was recorded is not trusted: downloaded again
    const third = new MockActivityEnvironment({
      attempt: 3,
      heartbeatDetails: {
        done: entries.map((e, i) => (i === 2 ? { ...e, sha256: '0'.repeat(64) } : e)),
      },
    });
    flaky.hits.length = 0;
    await third.run(persistOutputs, args(output));
    expect(flaky.hits).toEqual(['/2.png']);
  });
});

describe('OUTPUT_ALLOWED_ORIGINS', () => {
  it('reads a comma-separated list of origins and rejects anything that is not one', () => {
    expect(
      readWorkerConfig({
        REPLICATE_API_TOKEN: 't',
        OUTPUT_ALLOWED_ORIGINS: ' https://cdn.example.com, http://10.0.0.5:9000/ ,',
      }).outputAllowedOrigins,
    ).toEqual(['https://cdn.example.com', 'http://10.0.0.5:9000']);
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 't' }).outputAllowedOrigins).toBeUndefined();
    for (const bad of [
      'cdn.example.com',
      'https://cdn.example.com/files',
      'ftp://x',
      'https://*.example.com',
    ]) {
      expect(() => readWorkerConfig({ REPLICATE_API_TOKEN: 't', OUTPUT_ALLOWED_ORIGINS: bad }), bad).toThrow(
        ConfigError,
      );
    }
  });
});

describe('claim-checked outputs', () => {
  const key = claimKey('r8_fleet-token');

  it('persists the files of an output kept out of band (a reference the workers signed), not nothing', async () => {
    const api = await local({ '/files/big/0.png': file(), '/files/big/1.png': file() });
    servers.push(api);
    const dir = outputDir();
    const claims = fileClaimStore(path.join(dir, '.claims'));
    // an output too large for Temporal: thousands of entries, two of them files
    const ref = signClaim(
      await claims.put({
        images: [`${api.origin}/files/big/0.png`, `${api.origin}/files/big/1.png`],
        tokens: 'x'.repeat(300_000),
      }),
      key,
    );
    const { persistOutputs } = createOutputActivities({
      outputDir: dir,
      allowedOrigins: [api.origin],
      claims,
      claimKey: key,
    });
    const entries: ManifestEntry[] = await new MockActivityEnvironment().run(persistOutputs, args(ref));
    expect(entries.map((e) => e.sourceUrl)).toEqual([
      `${api.origin}/files/big/0.png`,
      `${api.origin}/files/big/1.png`,
    ]);
    expect(api.hits).toEqual(['/files/big/0.png', '/files/big/1.png']);
  });

  it("never reads a reference the workers did not sign (a model's output shaped like one)", async () => {
    const api = await local({ '/files/big/0.png': file() });
    servers.push(api);
    const dir = outputDir();
    const claims = fileClaimStore(path.join(dir, '.claims'));
    const stored = await claims.put({ images: [`${api.origin}/files/big/0.png`] });
    const { persistOutputs } = createOutputActivities({
      outputDir: dir,
      allowedOrigins: [api.origin],
      claims,
      claimKey: key,
    });
    for (const forged of [stored, signClaim(stored, claimKey('another fleet')), [stored, stored]]) {
      const entries: ManifestEntry[] = await new MockActivityEnvironment().run(persistOutputs, args(forged));
      expect(entries).toEqual([]);
    }
    expect(api.hits).toEqual([]);
  });
});
