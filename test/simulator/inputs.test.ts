// Models read their file inputs when they start: an expired upstream output fails the step, a data: URL or an
// upload that is still there does not; other hosts are accepted unread.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Prediction } from '../../simulator';
import { fileInputs, parseDataUrl } from '../../simulator/inputs';
import { TOKEN, call, clockedSimulator, created } from './helpers';

const HOUR = 3_600_000;
const { sim, advance } = clockedSimulator({
  models: {
    'test/reader': { startDelayMs: 10_000, durationMs: 1_000, output: 'read' },
    'test/maker': { startDelayMs: 0, durationMs: 1_000 },
  },
});
let base = '';
beforeAll(async () => {
  base = await sim.start();
});
afterAll(() => sim.stop());
beforeEach(() => sim.reset());

const later = (ms: number) => {
  advance(ms);
  sim.tick();
};
async function run(model: string, input: Record<string, unknown>): Promise<Prediction> {
  const r = await call(base, 'POST', `/models/${model}/predictions`, { input });
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return created(r);
}
const view = (id: string) => sim.prediction(id)!;
/** An output file of a finished test/maker prediction. */
async function madeFile(): Promise<string> {
  const made = await run('test/maker', {});
  later(1_000);
  return view(made.id).output as string;
}
async function uploaded(content = 'bytes'): Promise<{ id: string; get: string }> {
  const form = new FormData();
  form.append('content', new Blob([content]), 'in.bin');
  const r = await fetch(`${base}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: form,
  });
  const file = (await r.json()) as { id: string; urls: { get: string } };
  return { id: file.id, get: file.urls.get };
}
const fails = (p: Prediction, field: string) => {
  expect(p.status).toBe('failed');
  expect(p.error).toMatch(
    new RegExp(`^input\\.${field.replace(/[[\]]/g, '\\$&')}: input file not found \\(expired\\?\\)`),
  );
};

describe('a step started two hours after its upstream', () => {
  it('fails on the expired output URL, and succeeds on a data: URL or an upload of the same picture', async () => {
    const output = await madeFile();
    const picture = Buffer.from(await (await fetch(output)).arrayBuffer());
    const dataUrl = `data:image/png;base64,${picture.toString('base64')}`;
    const upload = await uploaded('a picture');

    later(2 * HOUR); // the output's data is removed after an hour (§8); the upload lives 24 h
    expect((await fetch(output)).status).toBe(404);
    const fromOutput = await run('test/reader', { image: output });
    const fromData = await run('test/reader', { image: dataUrl });
    const fromUpload = await run('test/reader', { image: upload.get });
    const fromDownload = await run('test/reader', { image: sim.fileDownloadUrl(upload.id) });
    const fromElsewhere = await run('test/reader', { image: 'https://example.com/cat.png' });
    later(11_000);

    fails(view(fromOutput.id), 'image');
    expect(view(fromOutput.id).error).toContain(output);
    expect(view(fromOutput.id)).toMatchObject({ output: null, logs: '' });
    expect(view(fromOutput.id).metrics!.predict_time).toBe(0);
    for (const ok of [fromData, fromUpload, fromDownload, fromElsewhere]) {
      expect(view(ok.id)).toMatchObject({ status: 'succeeded', output: 'read', error: null });
    }
  });

  it('an upload read after its 24 hours, or after it was deleted, fails the prediction', async () => {
    const expiring = await uploaded();
    const deleted = await uploaded();
    expect(
      (
        await fetch(`${base}/files/${deleted.id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
      ).status,
    ).toBe(204);
    later(24 * HOUR);
    const late = await run('test/reader', { image: expiring.get });
    const gone = await run('test/reader', { mask: deleted.get });
    const forged = await run('test/reader', {
      image: sim.fileDownloadUrl((await uploaded()).id).replace(/signature=[^&]+/, 'signature=forged'),
    });
    later(11_000);
    fails(view(late.id), 'image');
    fails(view(gone.id), 'mask');
    fails(view(forged.id), 'image');
  });

  it('a malformed data: URL fails; nested file inputs are named by their path', async () => {
    const good = 'data:text/plain;base64,aGVsbG8=';
    const broken = await run('test/reader', { image: 'data:image/png;base64,%%%notbase64' });
    const nested = await run('test/reader', {
      images: [good, `${sim.origin}/files/nosuchprediction/out-0.png`],
    });
    const deep = await run('test/reader', { config: { layers: [{ mask: 'data:no-comma' }] } });
    later(11_000);
    fails(view(broken.id), 'image');
    fails(view(nested.id), 'images[1]');
    fails(view(deep.id), 'config.layers[0].mask');
  });
});

describe('when the model reads', () => {
  it('at its start, not at its create: an upload deleted in between fails it', async () => {
    const upload = await uploaded();
    const p = await run('test/reader', { image: upload.get });
    later(5_000); // created, still starting
    await fetch(`${base}/files/${upload.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    later(6_000);
    fails(view(p.id), 'image');
  });

  it('an upload deleted after the start is not missed, even when nobody looked at the start', async () => {
    const upload = await uploaded();
    const p = await run('test/reader', { image: upload.get });
    advance(10_500); // started (and read) at +10 s; no tick, no GET: the simulator has not looked yet
    await fetch(`${base}/files/${upload.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    later(1_000);
    expect(view(p.id).status).toBe('succeeded');
  });

  it('an upstream output that expires while the step waits to start: the step reads at the start', async () => {
    sim.setModel('test/queued-reader', { startDelayMs: HOUR, durationMs: 1_000 });
    const output = await madeFile(); // completed now: removed in 1 h
    const p = await run('test/queued-reader', { image: output });
    later(HOUR); // the step starts as the data is removed
    fails(view(p.id), 'image');
    const inTime = await run('test/reader', { image: await madeFile() });
    later(11_000);
    expect(view(inTime.id).status).toBe('succeeded');
  });

  it('a run canceled before it starts reads nothing; the Prefer: wait answer shows the failure', async () => {
    const canceled = await run('test/reader', { image: 'data:broken' });
    await call(base, 'POST', `/predictions/${canceled.id}/cancel`);
    later(11_000);
    expect(view(canceled.id)).toMatchObject({ status: 'canceled', error: null });

    sim.setModel('test/instant', { startDelayMs: 0, durationMs: 0 });
    const waited = await call(
      base,
      'POST',
      '/models/test/instant/predictions',
      { input: { image: 'data:x' } },
      { prefer: 'wait=1' },
    );
    expect(waited.status).toBe(201);
    fails(created(waited), 'image');
  });
});

describe('fileInputs and parseDataUrl', () => {
  const origin = 'http://127.0.0.1:9';
  it('finds data: URLs and URLs of this simulator, nested, to a bounded depth, and nothing else', () => {
    let deep: unknown = 'data:,x';
    for (let i = 0; i < 12; i++) deep = [deep];
    expect(
      fileInputs(
        {
          prompt: 'a data: URL in words is not one',
          image: `${origin}/files/a/out-0.png`,
          other: 'https://example.com/x.png',
          list: [{ url: 'data:,hi' }],
          deep,
          n: 3,
        },
        origin,
      ),
    ).toEqual([
      { field: 'image', url: `${origin}/files/a/out-0.png` },
      { field: 'list[0].url', url: 'data:,hi' },
    ]);
  });
  it.each([
    ['data:,hello', 'hello'],
    ['data:text/plain;charset=utf-8,h%C3%A9', 'hé'],
    ['data:;base64,aGk=', 'hi'],
    ['data:image/png;base64,aGk', 'hi'],
  ])('%s', (url, text) => expect(parseDataUrl(url)?.toString('utf8')).toBe(text));
  it.each([
    'data:',
    'data:text/plain',
    'data:image/png;base64,a',
    'data:;base64,a*b=',
    'data:,%E0%A4%A',
    'data:a b,x',
  ])('%s is malformed', (url) => expect(parseDataUrl(url)).toBeUndefined());
});
