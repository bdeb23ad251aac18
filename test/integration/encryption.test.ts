/**
 * Encryption at rest (docs/encryption.md), against a dev server, the simulator and real workers: with a key, what
 * Temporal stores about a run (its whole history and its visibility record, every base64 field decoded and searched)
 * holds no prompt, input value, output URL, log line or error text; the CLI still prints the result; the codec
 * server decodes it for the Temporal CLI and refuses without the token or from another origin; a worker with another
 * key fails the run's workflow task naming the key id, and the run completes once a worker has the right key; a
 * pipeline is encrypted end to end.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, type PipelineSummary, type RunSummary } from '../../src/cli';
import { ensureBinary, TEMPORAL_CLI } from '../../src/dev/binaries';
import { EncryptionCodec } from '../../src/encryption/codec';
import { startCodecServer, type RunningCodecServer } from '../../src/encryption/codec-server';
import { encryptionKeyId } from '../../src/encryption/keys';
import { runPrediction } from '../../src/workflows';
import { freePort } from '../../src/dev/dev-server';
import { cliOn, FAST_POLLING, logs, spawnWorker, startTestbed, type Testbed } from '../helpers/testbed';

const run = promisify(execFile);
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const TOKEN = `codec-${randomBytes(16).toString('hex')}`;
const UI_ORIGIN = 'http://localhost:8233';

// What must never be readable in Temporal: unique, so a hit is ours (workflow ids carry another tag: they stay in clear).
const tag = randomBytes(4).toString('hex');
const idTag = randomBytes(4).toString('hex');
const PROMPT = `a portrait of Jane Roe ${tag} at 12 Elm Street`;
const INPUT_URL = `https://photos.example.com/private/jane-roe-${tag}.jpg`;
const LOG_LINE = `loading the face of Jane Roe ${tag}`;
const ERROR_TEXT = `refused to draw Jane Roe ${tag}`;

let bed: Testbed;
let codec: RunningCodecServer;
const codecLog: string[] = [];

beforeAll(async () => {
  // with production's fleet limits: polls run on the reads queue's Worker, which must encrypt too
  bed = await startTestbed(
    {},
    {
      encryption: { current: keyA },
      // every poll on the reads queue's Worker (no local share), so that its payloads go through the codec too
      replicateRateLimits: { createsPerMinute: 600, readsPerMinute: 3000, localReadShare: 0 },
    },
  );
  bed.sim.setModel('sim/secret', { startDelayMs: 50, durationMs: 300, logs: [LOG_LINE] });
  bed.sim.setModel('sim/secret-fail', {
    startDelayMs: 50,
    durationMs: 200,
    outcome: 'failed',
    error: ERROR_TEXT,
    logs: [LOG_LINE],
  });
  codec = await startCodecServer({
    port: 0,
    host: '127.0.0.1',
    authToken: TOKEN,
    corsOrigins: [UI_ORIGIN],
    namespace: bed.config.namespace,
    keys: { current: keyA },
    log: (line) => codecLog.push(line),
  });
});
afterAll(async () => {
  await codec?.stop();
  await bed?.teardown();
});

const input = JSON.stringify({ prompt: PROMPT, image: INPUT_URL });

/** The Temporal CLI against the testbed's server: stdout, or the failure's stderr. */
async function temporal(...args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      ensureBinary(TEMPORAL_CLI),
      [...args, '--address', bed.config.address, '--namespace', bed.config.namespace],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    return { ok: true, stdout, stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * Every text in a JSON document as Temporal gave it: each string, and each string that is base64 decoded (recursively
 * when the decoded bytes are JSON again), so a value hidden in a payload's base64 `data` is found too.
 */
function readableTexts(json: string): string[] {
  const out: string[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      out.push(value);
      if (depth < 4 && value.length >= 8 && value.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        out.push(decoded);
        try {
          visit(JSON.parse(decoded), depth + 1);
        } catch {
          // not JSON: searched as text
        }
      }
    } else if (Array.isArray(value)) value.forEach((v) => visit(v, depth));
    else if (value !== null && typeof value === 'object')
      Object.values(value).forEach((v) => visit(v, depth));
  };
  // one JSON document, or one per line (jsonl)
  const trimmed = json.trim();
  if (trimmed === '') return out;
  try {
    visit(JSON.parse(trimmed), 0);
  } catch {
    for (const line of trimmed.split('\n')) if (line.trim()) visit(JSON.parse(line), 0);
  }
  return out;
}

/**
 * Which of `needles` Temporal shows in clear for this workflow: its history, description and list entry; with
 * `queries` (a worker serves the run) also what the UI queries: the current details and the status query.
 */
async function inClear(
  workflowId: string,
  needles: string[],
  { queries = false } = {},
): Promise<{ found: string[]; texts: string[] }> {
  const id = ['--workflow-id', workflowId, '--output', 'json'];
  const dumps = [
    await temporal('workflow', 'show', ...id),
    await temporal('workflow', 'describe', ...id),
    await temporal('workflow', 'list', '--query', `WorkflowId = '${workflowId}'`, '--output', 'json'),
    ...(queries
      ? [
          await temporal('workflow', 'metadata', ...id),
          await temporal('workflow', 'query', '--name', 'status', ...id),
        ]
      : []),
  ];
  for (const dump of dumps) expect(dump.ok, dump.stderr).toBe(true);
  const texts = dumps.flatMap((d) => readableTexts(d.stdout));
  return { found: needles.filter((n) => texts.some((t) => t.includes(n))), texts };
}

describe('with ENCRYPTION_KEY', () => {
  let okId: string;
  let failId: string;
  let outputUrl: string;

  beforeAll(async () => {
    okId = `enc-ok-${idTag}`;
    failId = `enc-fail-${idTag}`;
    const ok = await cliOn(
      bed,
      'run',
      '--model',
      'sim/secret',
      '--input',
      input,
      '--workflow-id',
      okId,
      '--json',
    );
    expect(ok.code, ok.err.join('\n')).toBe(EXIT.ok);
    const summary = JSON.parse(ok.out[0]!) as RunSummary;
    outputUrl = String(Array.isArray(summary.output) ? (summary.output as unknown[])[0] : summary.output);
    expect(outputUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\//);
    const fail = await cliOn(
      bed,
      'run',
      '--model',
      'sim/secret-fail',
      '--input',
      input,
      '--workflow-id',
      failId,
      '--json',
    );
    expect(fail.code).toBe(EXIT.failed);
    // the client decrypts the failure: the CLI shows the model's error
    expect(fail.out[0]).toContain(ERROR_TEXT);
  });

  it('the CLI prints the result as without encryption', async () => {
    const { code, out } = await cliOn(bed, 'result', okId, '--json');
    expect(code).toBe(EXIT.ok);
    expect(JSON.parse(out[0]!)).toMatchObject({ status: 'succeeded', workflowId: okId });
    expect(out[0]).toContain(outputUrl);
  });

  it('history and visibility hold no prompt, input value, output URL, log line or error text in clear', async () => {
    const ok = await inClear(okId, [PROMPT, INPUT_URL, outputUrl, LOG_LINE, tag], { queries: true });
    expect(ok.found).toEqual([]);
    const fail = await inClear(failId, [PROMPT, INPUT_URL, LOG_LINE, ERROR_TEXT, tag], { queries: true });
    expect(fail.found).toEqual([]);
    // the polls ran on the reads queue's Worker
    const { events } = await bed.env.client.workflow.getHandle(okId).fetchHistory();
    expect(
      events!.some((e) =>
        e.activityTaskScheduledEventAttributes?.taskQueue?.name?.endsWith('-replicate-reads'),
      ),
    ).toBe(true);
    // what stays in clear for search and metrics (docs/encryption.md): the model, the status, the prediction id
    expect(ok.texts).toContain('sim/secret');
    expect(ok.texts.some((t) => t === 'succeeded')).toBe(true);
    expect(fail.texts.some((t) => t.includes('Encoded failure'))).toBe(true);
  });

  it('the same scan finds them all in a run without encryption (the scan can fail)', async () => {
    const workflowId = `plain-${idTag}`;
    await bed.withWorker({ encryption: undefined }, async (taskQueue) => {
      const handle = await bed.env.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId,
        workflowExecutionTimeout: '1m',
        args: [
          { model: 'sim/secret-fail', input: { prompt: PROMPT, image: INPUT_URL }, polling: FAST_POLLING },
        ],
      });
      await handle.result().catch(() => undefined);
    });
    const { found } = await inClear(workflowId, [PROMPT, INPUT_URL, LOG_LINE, ERROR_TEXT]);
    expect(found).toEqual([PROMPT, INPUT_URL, LOG_LINE, ERROR_TEXT]);
  });

  it('the codec server decodes the history for the Temporal CLI, with the token only', async () => {
    const shown = await temporal(
      'workflow',
      'show',
      '--workflow-id',
      failId,
      '--output',
      'json',
      '--codec-endpoint',
      codec.origin,
      '--codec-auth',
      `Bearer ${TOKEN}`,
    );
    expect(shown.ok, shown.stderr).toBe(true);
    const texts = readableTexts(shown.stdout);
    for (const needle of [PROMPT, INPUT_URL, LOG_LINE, ERROR_TEXT])
      expect(
        texts.some((t) => t.includes(needle)),
        needle,
      ).toBe(true);
    // the UI's current details (logs tail, error) too: a query answer, encrypted like a payload
    const details = await temporal(
      'workflow',
      'metadata',
      '--workflow-id',
      failId,
      '--output',
      'json',
      '--codec-endpoint',
      codec.origin,
      '--codec-auth',
      `Bearer ${TOKEN}`,
    );
    expect(details.ok, details.stderr).toBe(true);
    const detailTexts = readableTexts(details.stdout);
    expect(detailTexts.some((t) => t.includes(LOG_LINE) && t.includes(ERROR_TEXT))).toBe(true);

    const before = codecLog.length;
    const refused = await temporal(
      'workflow',
      'show',
      '--workflow-id',
      failId,
      '--output',
      'json',
      '--codec-endpoint',
      codec.origin,
      '--command-timeout',
      '3s', // the CLI retries a refused decode until its deadline
    );
    expect(readableTexts(refused.stdout).some((t) => t.includes(PROMPT))).toBe(false);
    expect(codecLog.slice(before).join('\n')).toMatch(/refused decode .*missing Authorization: Bearer/);
    const wrong = await temporal(
      'workflow',
      'show',
      '--workflow-id',
      failId,
      '--codec-endpoint',
      codec.origin,
      '--codec-auth',
      'Bearer not-the-token-at-all',
      '--command-timeout',
      '3s',
    );
    expect(wrong.stdout).not.toContain(PROMPT);
    expect(codecLog.slice(before).join('\n')).toMatch(/wrong bearer token/);
  });

  it('the codec server answers browsers from the UI origin only (CORS), preflight included', async () => {
    const preflight = (origin: string) =>
      fetch(`${codec.origin}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace,authorization',
        },
      });
    const allowed = await preflight(UI_ORIGIN);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(allowed.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    const evil = await preflight('http://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();

    const [sealed] = await new EncryptionCodec({ current: keyA }).encode([
      defaultPayloadConverter.toPayload(PROMPT),
    ]);
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(sealed!.data!).toString('base64'),
        },
      ],
    });
    const post = (origin: string) =>
      fetch(`${codec.origin}/api/codec/decode`, {
        method: 'POST',
        headers: {
          origin,
          'content-type': 'application/json',
          'x-namespace': bed.config.namespace,
          authorization: `Bearer ${TOKEN}`,
        },
        body,
      });
    const fromUi = await post(UI_ORIGIN);
    expect(fromUi.status).toBe(200);
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const decoded = (await fromUi.json()) as { payloads: Array<{ data: string }> };
    expect(JSON.parse(Buffer.from(decoded.payloads[0]!.data, 'base64').toString())).toBe(PROMPT);
    const fromEvil = await post('http://evil.example');
    expect(fromEvil.status).toBe(403);
    expect(await fromEvil.text()).not.toContain(Buffer.from(JSON.stringify(PROMPT)).toString('base64'));
    // another namespace's UI gets nothing from these keys
    const other = await fetch(`${codec.origin}/decode`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-namespace': 'elsewhere',
        authorization: `Bearer ${TOKEN}`,
      },
      body,
    });
    expect(other.status).toBe(403);
  });

  it('a worker with another key fails the workflow task naming the key id; with the right key the run completes', async () => {
    const taskQueue = `test-${randomUUID()}`;
    const handle = await bed.client.workflow.start(runPrediction, {
      taskQueue,
      workflowId: `enc-rotate-${idTag}`,
      workflowExecutionTimeout: '2m',
      args: [{ model: 'sim/secret', input: { prompt: PROMPT }, polling: FAST_POLLING }],
    });
    const idA = encryptionKeyId(keyA);
    const logged = logs.length;
    await bed.withWorker({ taskQueue, encryption: { current: keyB } }, async () => {
      for (;;) {
        const { events } = await handle.fetchHistory();
        if (events?.some((e) => e.workflowTaskFailedEventAttributes)) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });
    // the worker's log says why, naming the key id it lacks and the one it has
    const said = logs
      .slice(logged)
      .map((e) => `${e.message} ${String((e.meta?.error as Error | undefined)?.message)}`);
    expect(said.join('\n')).toContain(
      `a payload is encrypted with key id ${idA}, which this process does not have (it has ${encryptionKeyId(keyB)} (current))`,
    );
    // the failure in the history says it too, encrypted with the key of the worker that wrote it
    const failed = (await handle.fetchHistory()).events!.find((e) => e.workflowTaskFailedEventAttributes)!
      .workflowTaskFailedEventAttributes!.failure!;
    expect(failed.message).toBe('Encoded failure');
    const [attributes] = await new EncryptionCodec({ current: keyB }).decode([failed.encodedAttributes!]);
    expect((defaultPayloadConverter.fromPayload(attributes!) as { message: string }).message).toContain(
      `key id ${idA}`,
    );
    // a worker with the right key takes the workflow task over and the run completes
    const result = await bed.withWorker({ taskQueue, encryption: { current: keyA } }, () => handle.result());
    expect(result.status).toBe('succeeded');
  });

  it('npm run worker with ENCRYPTION_KEY: its Workers and its webhook receiver encrypt, its log names only the key id', async () => {
    const taskQueue = `test-${randomUUID()}`;
    const port = await freePort();
    const key = keyA.toString('base64');
    const worker = spawnWorker(bed, taskQueue, {
      ENCRYPTION_KEY: key,
      // webhooks into the receiver this process serves: each delivery becomes a signal, from its own client
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_BASE_URL: `http://127.0.0.1:${port}`,
      RECONCILE_EVERY: 'off',
    });
    try {
      await expect
        .poll(worker.output, { timeout: 60_000 })
        .toContain(`worker polling task queue "${taskQueue}"`);
      expect(worker.output()).toContain(
        `payloads and failure messages encrypted with key ${encryptionKeyId(keyA)}`,
      );
      const handle = await bed.client.workflow.start(runPrediction, {
        taskQueue,
        workflowId: `enc-worker-${idTag}`,
        workflowExecutionTimeout: '1m',
        args: [{ model: 'sim/secret', input: { prompt: PROMPT, image: INPUT_URL } }],
      });
      const result = await handle.result();
      expect(result.status).toBe('succeeded');
      const events = (await handle.fetchHistory()).events ?? [];
      expect(events.filter((e) => e.workflowExecutionSignaledEventAttributes).length).toBeGreaterThan(0);
      const { found } = await inClear(handle.workflowId, [
        PROMPT,
        INPUT_URL,
        LOG_LINE,
        String(result.output),
        tag,
      ]);
      expect(found).toEqual([]);
    } finally {
      worker.child.kill('SIGTERM');
      await worker.closed;
    }
    expect(worker.output()).not.toContain(key);
  });

  it('runs a pipeline encrypted end to end: parent and children hold nothing in clear', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'enc-pipeline-'));
    const spec = path.join(dir, 'secret.yaml');
    writeFileSync(
      spec,
      [
        'name: secret',
        'inputs: { prompt: placeholder }',
        'steps:',
        '  draw:',
        '    model: sim/secret',
        "    input: { prompt: '{{ inputs.prompt }}' }",
        '  again:',
        '    model: sim/secret',
        "    input: { prompt: '{{ inputs.prompt }}', image: '{{ steps.draw.outputs[0] }}' }",
        '',
      ].join('\n'),
    );
    const pipelineId = `enc-pipeline-${idTag}`;
    const { code, out, err } = await cliOn(
      bed,
      'pipeline',
      'run',
      spec,
      '--input',
      `prompt=${PROMPT}`,
      '--pipeline-id',
      pipelineId,
      '--json',
    );
    expect(code, err.join('\n')).toBe(EXIT.ok);
    const summary = JSON.parse(out[0]!) as PipelineSummary;
    expect(summary.status).toBe('succeeded');
    const outputs = Object.values(summary.steps).flatMap((s) => s.outputs.map(String));
    expect(outputs.length).toBeGreaterThan(0);
    for (const id of [pipelineId, `${pipelineId}--draw`, `${pipelineId}--again`]) {
      const { found } = await inClear(id, [PROMPT, LOG_LINE, tag, ...outputs]);
      expect(found, id).toEqual([]);
    }
  });
});
