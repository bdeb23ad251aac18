import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, readWorkerConfig } from '../../src/config';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { serverRatePerSecond } from '../../src/worker/flow-control';

describe('worker configuration', () => {
  it('applies the documented defaults', () => {
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 't' })).toEqual({
      address: 'localhost:7233',
      namespace: 'default',
      taskQueue: 'replicate',
      replicateToken: 't',
      replicateBaseUrl: 'https://api.replicate.com/v1',
      // REPLICATE_CREATE_RPM's default (600 a minute) sets the queue's rate (src/worker/flow-control.ts)
      maxTaskQueueActivitiesPerSecond: serverRatePerSecond(600),
      replicateRateLimits: { createsPerMinute: 600, readsPerMinute: 3000, localReadShare: 0.9 },
      shutdownGraceTimeMs: 20_000,
      outputDir: 'outputs',
      webhook: null,
      reconcileEveryMs: 300_000,
      claimRetentionMs: 240 * 3_600_000, // CLAIM_RETENTION's default
    });
  });

  it('reads a prebuilt workflow bundle and the sticky-cache size', () => {
    const config = readWorkerConfig({
      REPLICATE_API_TOKEN: 't',
      WORKFLOW_BUNDLE: 'package.json', // any existing file; the worker loads it as the bundle
      MAX_CACHED_WORKFLOWS: '500',
    });
    expect(config.workflowBundlePath).toBe(path.resolve('package.json'));
    expect(config.maxCachedWorkflows).toBe(500);
  });

  it('reads every variable', () => {
    const config = readWorkerConfig({
      TEMPORAL_ADDRESS: 'temporal:7233',
      TEMPORAL_NAMESPACE: 'prod',
      TEMPORAL_TASK_QUEUE: 'gpu',
      REPLICATE_API_TOKEN: 't',
      REPLICATE_BASE_URL: 'http://127.0.0.1:8787/v1/',
      MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '5',
      SHUTDOWN_GRACE_SECONDS: '3',
    });
    expect(config).toMatchObject({
      address: 'temporal:7233',
      namespace: 'prod',
      taskQueue: 'gpu',
      replicateBaseUrl: 'http://127.0.0.1:8787/v1',
      maxTaskQueueActivitiesPerSecond: 5,
      shutdownGraceTimeMs: 3000,
    });
  });

  it.each([
    [{}, 'REPLICATE_API_TOKEN is not set'],
    [{ REPLICATE_API_TOKEN: 't', TEMPORAL_ADDRESS: 'http://x' }, 'must be host:port'],
    [{ REPLICATE_API_TOKEN: 't', REPLICATE_BASE_URL: 'not a url' }, 'is not a URL'],
    [{ REPLICATE_API_TOKEN: 't', REPLICATE_BASE_URL: 'ftp://x' }, 'must start with https://'],
    [
      { REPLICATE_API_TOKEN: 't', MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND: '-1' },
      'must be a decimal number from 0.01',
    ],
    [{ REPLICATE_API_TOKEN: 't', WORKFLOW_BUNDLE: 'no/such/bundle.js' }, 'run `npm run build:workflows`'],
    [
      { REPLICATE_API_TOKEN: 't', MAX_CACHED_WORKFLOWS: 'many' },
      'MAX_CACHED_WORKFLOWS="many" must be a whole number',
    ],
  ])('rejects %j with a one-line explanation', (env, message) => {
    expect(() => readWorkerConfig(env)).toThrow(ConfigError);
    expect(() => readWorkerConfig(env)).toThrow(message);
  });

  it('npm run worker exits 2 with one line when the token is missing', () => {
    const env = { ...process.env };
    delete env.REPLICATE_API_TOKEN;
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/worker/main.ts'], {
      cwd: PROJECT_ROOT,
      env,
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^worker: REPLICATE_API_TOKEN is not set/),
    ]);
  });
});
