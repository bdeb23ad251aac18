/**
 * Environment values, strictly: booleans in their usual spellings (anything else refused), numbers in decimal
 * within sane bounds. Each refusal is one line naming the variable, what it accepts and the fix.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  readHealth,
  readReplicateRateLimits,
  readTemporalConfig,
  readWorkerConfig,
  temporalConnectionOptions,
} from '../../src/config';
import { readTracingConfig } from '../../src/observability/tracing';
import { serverRatePerSecond } from '../../src/worker/flow-control';

const dir = mkdtempSync(path.join(tmpdir(), 'env-values-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** No developer's own ~/.config/temporalio/temporal.toml. */
const isolated = { HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'xdg') };

function refusal(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('expected a ConfigError');
}

describe('TEMPORAL_TLS', () => {
  it.each(['true', 'TRUE', 'True', '1', 'yes', 'YES', 'on', 'On', ' true '])('%j means TLS', (value) => {
    const config = readTemporalConfig({ ...isolated, TEMPORAL_TLS: value });
    expect(config.tls).toEqual({});
    expect(temporalConnectionOptions(config)).toMatchObject({ tls: {} });
  });

  it.each(['false', 'FALSE', '0', 'no', 'No', 'off', 'OFF'])('%j means plaintext', (value) => {
    const config = readTemporalConfig({ ...isolated, TEMPORAL_TLS: value });
    expect(config.tls).toBeUndefined();
    expect(temporalConnectionOptions(config)).not.toHaveProperty('tls');
  });

  it.each(['enabled', 'y', 'tru', '2', 'TLS'])('%j is refused with one line naming the variable', (value) => {
    const message = refusal(() => readTemporalConfig({ ...isolated, TEMPORAL_TLS: value }));
    expect(message).toContain(`TEMPORAL_TLS="${value}"`);
    expect(message).toMatch(/true or false/);
  });

  it('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: any true spelling is refused as unsupported, false is fine', () => {
    expect(
      refusal(() => readTemporalConfig({ ...isolated, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'YES' })),
    ).toMatch(/TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported/);
    expect(
      readTemporalConfig({ ...isolated, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'off' }).tls,
    ).toBeUndefined();
    expect(
      refusal(() => readTemporalConfig({ ...isolated, TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'maybe' })),
    ).toContain('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION="maybe"');
  });

  it('OTEL_SDK_DISABLED follows the same rule', () => {
    expect(readTracingConfig({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' })).toBeNull();
    expect(readTracingConfig({ OTEL_SDK_DISABLED: 'on', OTEL_TRACES_EXPORTER: 'otlp' })).toBeNull();
    expect(readTracingConfig({ OTEL_SDK_DISABLED: 'no' })).toBeNull(); // off, and nothing asks for tracing
    expect(refusal(() => readTracingConfig({ OTEL_SDK_DISABLED: 'disabled' }))).toContain(
      'OTEL_SDK_DISABLED="disabled"',
    );
  });
});

describe('numbers: decimal only, within bounds', () => {
  const base = { ...isolated, REPLICATE_API_TOKEN: 't' };
  it.each([
    ['MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', '1e-7'],
    ['MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', '0.001'],
    ['MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', '1e9'],
    ['MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', '0x10'],
    ['REPLICATE_CREATE_RPM', '0x10'],
    ['REPLICATE_CREATE_RPM', '1e3'],
    ['REPLICATE_CREATE_RPM', '99999999'],
    ['REPLICATE_READ_RPM', 'Infinity'],
    ['REPLICATE_READ_RPM', '2.5'],
    ['SHUTDOWN_GRACE_SECONDS', '1e300'],
    ['SHUTDOWN_GRACE_SECONDS', '86400'],
    ['SHUTDOWN_GRACE_SECONDS', '0'],
    ['HEALTH_PORT', '0x1F90'],
    ['HEALTH_PORT', '8e3'],
    ['METRICS_PORT', '0b1'],
    ['WEBHOOK_PORT', '0o17'],
    ['MAX_CACHED_WORKFLOWS', '1e3'],
  ])('%s=%j is refused: one line naming the variable, the range and the fix', (name, value) => {
    const message = refusal(() => readWorkerConfig({ ...base, [name]: value }));
    expect(message).toContain(`${name}="${value}"`);
    expect(message).toMatch(/from [\d.,]+ to [\d.,]+|0-65535|1-65535/);
  });

  it.each([
    ['MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND', '0.5', { maxTaskQueueActivitiesPerSecond: 0.5 }],
    [
      'MAX_TASK_QUEUE_ACTIVITIES_PER_SECOND',
      '100000',
      { maxTaskQueueActivitiesPerSecond: serverRatePerSecond(600) },
    ], // creates' 600/min cap it
    ['SHUTDOWN_GRACE_SECONDS', '2.5', { shutdownGraceTimeMs: 2500 }],
    ['SHUTDOWN_GRACE_SECONDS', ' 20 ', { shutdownGraceTimeMs: 20_000 }],
    ['MAX_CACHED_WORKFLOWS', '0', { maxCachedWorkflows: 0 }],
  ])('%s=%j is accepted', (name, value, expected) => {
    expect(readWorkerConfig({ ...base, [name]: value })).toMatchObject(expected);
  });

  it('rates: whole decimal numbers of calls a minute, or off', () => {
    expect(readReplicateRateLimits({ REPLICATE_CREATE_RPM: '16', REPLICATE_READ_RPM: 'OFF' })).toEqual({
      createsPerMinute: 16,
      readsPerMinute: null,
      localReadShare: 0.9,
    });
    expect(refusal(() => readReplicateRateLimits({ REPLICATE_CREATE_RPM: '0x10' }))).toMatch(
      /^REPLICATE_CREATE_RPM="0x10" must be a whole number from 1 to [\d,]+ .*, or off/,
    );
  });

  it('ports: decimal', () => {
    expect(readHealth({ HEALTH_PORT: '8080' }).health?.port).toBe(8080);
    expect(refusal(() => readHealth({ HEALTH_PORT: '0x1F90' }))).toContain('HEALTH_PORT="0x1F90"');
  });
});
