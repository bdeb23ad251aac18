/**
 * Log lines (src/observability/log.ts, src/worker/logging.ts): LOG_FORMAT, the JSON object of each line and the fields
 * mapped from the SDK's own workflow and activity log meta, errors as one string, the token redacted whatever path
 * it took, the CLI's diagnostics, and the processes refusing a bad LOG_FORMAT.
 */
import { spawnSync } from 'node:child_process';
import { ApplicationFailure } from '@temporalio/common';
import { activityLogAttributes, type LogEntry } from '@temporalio/worker';
import { workflowLogAttributes } from '@temporalio/workflow/lib/logs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { SaidFailures, sdkRecord, workerRuntimeOptions } from '../../src/worker/logging';
import {
  ProcessLog,
  cliDiagnostic,
  jsonLine,
  readLogFormat,
  redactLine,
  secretsFromEnv,
} from '../../src/observability/log';

const TOKEN = 'r8_unit-7c1d5e9a3f';
const time = new Date('2026-11-30T12:00:00.000Z');

/** What the SDK 1.24 puts in an activity's log meta (its own function), for a createPrediction attempt 3. */
const activityMeta = activityLogAttributes({
  isLocal: false,
  attempt: 3,
  namespace: 'default',
  base64TaskToken: 'dGFzay10b2tlbg==',
  activityId: '1',
  activityType: 'createPrediction',
  taskQueue: 'replicate',
  inWorkflow: true,
  workflowExecution: { workflowId: 'wf-1', runId: 'run-1' },
  workflowType: 'runPrediction',
} as unknown as Parameters<typeof activityLogAttributes>[0]);

/** ... and in a workflow's. */
const workflowMeta = workflowLogAttributes({
  namespace: 'default',
  taskQueue: 'replicate',
  workflowId: 'wf-1',
  runId: 'run-1',
  workflowType: 'runPrediction',
} as unknown as Parameters<typeof workflowLogAttributes>[0]);

describe('LOG_FORMAT', () => {
  it('is text by default, json on request, and anything else a ConfigError naming the variable and the choices', () => {
    expect(readLogFormat({})).toBe('text');
    expect(readLogFormat({ LOG_FORMAT: '' })).toBe('text');
    expect(readLogFormat({ LOG_FORMAT: 'text' })).toBe('text');
    expect(readLogFormat({ LOG_FORMAT: ' JSON ' })).toBe('json');
    expect(() => readLogFormat({ LOG_FORMAT: 'yaml' })).toThrow(ConfigError);
    expect(() => readLogFormat({ LOG_FORMAT: 'yaml' })).toThrow(
      /^LOG_FORMAT="yaml" is not a log format; use text .* or json /,
    );
  });
});

describe('json lines', () => {
  it("maps an activity's SDK meta: runId from workflowRunId, the known fields first, no task token", () => {
    const line = jsonLine({
      time,
      level: 'INFO',
      message: 'prediction p1 created for sim/echo',
      meta: {
        ...activityMeta,
        sdkComponent: 'activity',
        predictionId: 'p1',
        model: 'sim/echo',
        kind: 'prediction',
      },
    });
    expect(line).not.toContain('\n');
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed).slice(0, 11)).toEqual([
      'time',
      'level',
      'message',
      'workflowId',
      'runId',
      'workflowType',
      'taskQueue',
      'activityType',
      'predictionId',
      'model',
      'attempt',
    ]);
    expect(parsed).toEqual({
      time: '2026-11-30T12:00:00.000Z',
      level: 'INFO',
      message: 'prediction p1 created for sim/echo',
      workflowId: 'wf-1',
      runId: 'run-1',
      workflowType: 'runPrediction',
      taskQueue: 'replicate',
      activityType: 'createPrediction',
      predictionId: 'p1',
      model: 'sim/echo',
      attempt: 3,
      isLocal: false,
      namespace: 'default',
      activityId: '1',
      sdkComponent: 'activity',
      kind: 'prediction',
    });
  });

  it("keeps a workflow's SDK meta (workflowId, runId, workflowType, taskQueue) and our fields", () => {
    const parsed = JSON.parse(
      jsonLine({
        time,
        level: 'INFO',
        message: 'prediction p1: starting -> processing',
        meta: { ...workflowMeta, sdkComponent: 'workflow', predictionId: 'p1', model: 'sim/echo', polls: 2 },
      }),
    ) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      workflowId: 'wf-1',
      runId: 'run-1',
      workflowType: 'runPrediction',
      taskQueue: 'replicate',
      predictionId: 'p1',
      model: 'sim/echo',
      polls: 2,
    });
    expect(parsed).not.toHaveProperty('attempt'); // a workflow's log meta has none: never made up
  });

  it('writes an error and its causes as one string; bigints and nested errors do not break the line', () => {
    const error = ApplicationFailure.create({
      type: 'ReplicateRateLimited',
      message: '429 Too Many Requests\nretry later',
      cause: new Error('socket hang up'),
    });
    const parsed = JSON.parse(
      jsonLine({
        time,
        level: 'WARN',
        message: 'poll failed',
        meta: { error, big: 5n, other: new TypeError('x') },
      }),
    ) as Record<string, unknown>;
    expect(parsed.error).toBe(
      'ReplicateRateLimited: 429 Too Many Requests retry later <- Error: socket hang up',
    );
    expect(parsed.big).toBe('5');
    expect(parsed.other).toBe('TypeError: x');
  });

  it('still writes one object when a field is circular', () => {
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    const parsed = JSON.parse(
      jsonLine({ time, level: 'INFO', message: 'm', meta: { predictionId: 'p', loop } }),
    );
    expect(parsed).toMatchObject({ level: 'INFO', message: 'm' });
    expect(parsed.meta).toContain('predictionId');
  });
});

describe('redaction', () => {
  it('removes the token from the message, fields, errors and nested values, also JSON-escaped', () => {
    const odd = 'zq"x\\9z'; // a secret whose JSON spelling differs from its raw one
    const log = new ProcessLog({ format: 'json', component: 'worker', secrets: [TOKEN, odd] });
    const lines = [
      log.render('INFO', `calling with ${TOKEN}`, { header: `Bearer ${TOKEN}`, nested: { deep: [odd] } }),
      log.renderEntry({
        time,
        level: 'ERROR',
        message: 'x',
        meta: { error: new Error(`bad token ${TOKEN}`) },
      }),
    ];
    for (const line of lines) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain('zq');
      expect(line).toContain('***');
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    }
    const text = new ProcessLog({ format: 'text', component: 'worker', secrets: [TOKEN] });
    expect(text.render('WARN', `401 for ${TOKEN}`)).toBe('worker: 401 for ***');
    expect(redactLine(`a${TOKEN}b${TOKEN}`, [TOKEN, ''])).toBe('a***b***');
  });

  it('reads the secrets from the environment', () => {
    expect(
      secretsFromEnv({
        REPLICATE_API_TOKEN: ` ${TOKEN} `,
        TEMPORAL_API_KEY: 'k3y-abc',
        REPLICATE_WEBHOOK_SECRET: '',
      }),
    ).toEqual([TOKEN, 'k3y-abc']);
  });
});

describe('process lines', () => {
  it('text: INFO is the message alone on stdout, WARN/ERROR "<component>: ..." on stderr; json: one object with the component', () => {
    const written: [string, string][] = [];
    const write = (line: string, level: string): void => void written.push([level, line]);
    const text = new ProcessLog({ format: 'text', component: 'worker', secrets: [], write });
    text.info('worker polling task queue "q"');
    text.error('could not connect');
    expect(written).toEqual([
      ['INFO', 'worker polling task queue "q"'],
      ['ERROR', 'worker: could not connect'],
    ]);
    const json = new ProcessLog({
      format: 'json',
      component: 'webhooks',
      secrets: [],
      write,
      now: () => time,
    });
    json.warn('webhook rejected', { reason: 'stale', workflowId: 'wf-1' });
    expect(JSON.parse(written[2]![1])).toEqual({
      time: '2026-11-30T12:00:00.000Z',
      level: 'WARN',
      message: 'webhook rejected',
      component: 'webhooks',
      workflowId: 'wf-1',
      reason: 'stale',
    });
  });

  it("the worker runtime's logger: json lines for our entries, the SDK's INFO chatter and the reads Worker's 'no workflows' dropped, one outage line", () => {
    const lines: string[] = [];
    const log = new ProcessLog({ format: 'json', component: 'worker', secrets: [TOKEN] });
    const { logger } = workerRuntimeOptions('localhost:7233', log, (line) => lines.push(line));
    logger!.info('prediction p1 created', { ...activityMeta, sdkComponent: 'activity', predictionId: 'p1' });
    logger!.info('Worker state changed', { sdkComponent: 'worker' });
    logger!.warn('No workflows registered, not polling for workflow tasks', { sdkComponent: 'worker' });
    logger!.warn('retried 3 times: tcp connect error', { sdkComponent: 'core' });
    logger!.warn('retried 4 times: tcp connect error', { sdkComponent: 'core' });
    logger!.warn(`leaked ${TOKEN}`, { sdkComponent: 'workflow' });
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.level, p.message])).toEqual([
      ['INFO', 'prediction p1 created'],
      ['WARN', expect.stringMatching(/^Temporal at localhost:7233 does not answer; still retrying/)],
      ['WARN', 'leaked ***'],
    ]);
    expect(parsed[0]).toMatchObject({ workflowId: 'wf-1', runId: 'run-1', predictionId: 'p1', attempt: 3 });
  });

  it('an SDK entry keeps its own time (nanoseconds)', () => {
    const entry: LogEntry = {
      level: 'INFO',
      message: 'm',
      timestampNanos: BigInt(time.getTime()) * 1_000_000n,
    };
    expect(sdkRecord(entry).time.toISOString()).toBe('2026-11-30T12:00:00.000Z');
  });
});

describe('CLI diagnostics', () => {
  const json = new ProcessLog({ format: 'json', component: 'cli', secrets: [TOKEN] });

  it('json: the error:/warning: prefix becomes the level, other lines are INFO; one line each', () => {
    const parse = (line: string) => JSON.parse(cliDiagnostic(json, line)) as Record<string, unknown>;
    expect(parse('error: unknown command "rn"; did you mean run?\nusage: ...')).toMatchObject({
      level: 'ERROR',
      component: 'cli',
      message: 'unknown command "rn"; did you mean run?\nusage: ...',
    });
    expect(parse('warning: no worker polls')).toMatchObject({ level: 'WARN', message: 'no worker polls' });
    expect(parse('next: replicate-temporal result x')).toMatchObject({ level: 'INFO' });
    expect(cliDiagnostic(json, 'error: a\nb').split('\n')).toHaveLength(1);
  });

  it('text: the line as it was, redacted', () => {
    const text = new ProcessLog({ format: 'text', component: 'cli', secrets: [TOKEN] });
    expect(cliDiagnostic(text, `error: bad ${TOKEN}`)).toBe('error: bad ***');
  });
});

describe('processes', () => {
  const spawnTs = (entry: string, args: string[], env: Record<string, string>) =>
    spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });

  it('the worker, the receiver and the CLI refuse a bad LOG_FORMAT in one line (exit 2)', () => {
    for (const [entry, prefix] of [
      ['src/worker/main.ts', 'worker: '],
      ['src/webhooks/main.ts', 'webhooks: '],
      ['src/cli/main.ts', 'error: '],
    ] as const) {
      const result = spawnTs(entry, entry.includes('cli') ? ['status', 'x'] : [], {
        LOG_FORMAT: 'yaml',
        REPLICATE_API_TOKEN: TOKEN,
      });
      expect(result.status, entry).toBe(2);
      expect(result.stdout, entry).toBe('');
      expect(result.stderr.trim().split('\n'), entry).toEqual([`${prefix}${readLogFormatError()}`]);
    }
  });

  it('with LOG_FORMAT=json a CLI usage error is one JSON line on stderr', () => {
    const result = spawnTs('src/cli/main.ts', ['rn'], { LOG_FORMAT: 'json' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'ERROR',
      component: 'cli',
      message: expect.stringMatching(/^unknown command "rn"/),
    });
  });
});

function readLogFormatError(): string {
  try {
    readLogFormat({ LOG_FORMAT: 'yaml' });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('LOG_FORMAT=yaml was accepted');
}

describe('one line per failure (SaidFailures)', () => {
  const at = (level: LogEntry['level'], message: string, meta: Record<string, unknown>): LogEntry => ({
    level,
    message,
    meta,
    timestampNanos: 0n,
  });
  const rejected = 'Replicate create prediction for sim/echo was rejected (401 Unauthenticated)';
  const activity = { sdkComponent: 'activity', workflowId: 'wf-1', workflowRunId: 'run-1' };
  const workflow = { sdkComponent: 'workflow', workflowId: 'wf-1', runId: 'run-1' };

  it('a wrong token: the activity says it; the SDK and the workflow do not repeat it', () => {
    const said = new SaidFailures();
    const kept = [
      at('WARN', rejected, activity),
      at('WARN', 'Activity failed', { ...activity, sdkComponent: 'worker', error: new Error(rejected) }),
      at('WARN', `run failed: ${rejected}`, workflow),
      at('WARN', 'Workflow failed', { ...workflow, sdkComponent: 'worker', error: new Error(rejected) }),
    ].filter((entry) => !said.repeats(entry));
    expect(kept.map((e) => e.message)).toEqual([rejected]);
  });

  it('every failed attempt is its own line; a failure nobody said is kept; other runs are apart', () => {
    const said = new SaidFailures();
    const busy = 'Replicate get prediction failed with a server error (503); will retry';
    expect(said.repeats(at('WARN', busy, activity))).toBe(false);
    expect(said.repeats(at('WARN', busy, activity))).toBe(false); // attempt 2: a new event
    const bug = new Error('Cannot read properties of undefined');
    expect(said.repeats(at('WARN', 'Activity failed', { ...activity, error: bug }))).toBe(false);
    expect(said.repeats(at('WARN', 'Workflow failed', { ...workflow, error: bug }))).toBe(true);
    const other = { ...workflow, workflowId: 'wf-2', runId: 'run-2' };
    expect(said.repeats(at('WARN', 'Workflow failed', { ...other, error: bug }))).toBe(false);
    expect(said.repeats(at('INFO', 'Workflow failed', { ...workflow, error: bug }))).toBe(false);
  });

  it("a pipeline's step failure restates its child's; the pipeline's verdict is its own line", () => {
    const said = new SaidFailures();
    const child = { sdkComponent: 'workflow', workflowId: 'pipeline-x--one', runId: 'run-c' };
    const parent = { sdkComponent: 'workflow', workflowId: 'pipeline-x', runId: 'run-p' };
    const failed = 'prediction p1 failed: CUDA out of memory';
    expect(said.repeats(at('WARN', failed, child))).toBe(false);
    expect(said.repeats(at('WARN', `step one failed: ${failed}`, parent))).toBe(true);
    const verdict = new Error(`pipeline x failed: one failed (${failed})`);
    expect(said.repeats(at('WARN', 'Workflow failed', { ...parent, error: verdict }))).toBe(false);
  });
});
