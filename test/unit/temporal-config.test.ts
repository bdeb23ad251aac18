/**
 * Temporal's environment configuration (src/config/index.ts over @temporalio/envconfig): TOML profiles, environment
 * overrides, TLS and API key into connection options, one-line errors that name the variable and never the key.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  readHealth,
  readTemporalConfig,
  temporalConnectionOptions,
  temporalSecurity,
} from '../../src/config';

const dir = mkdtempSync(path.join(tmpdir(), 'temporal-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An environment without the developer's own ~/.config/temporalio/temporal.toml. */
const isolated = { HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'xdg') };

function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const caFile = file('ca.pem', CA);
const toml = file(
  'temporal.toml',
  [
    '[profile.default]',
    'address = "127.0.0.1:7233"',
    '',
    '[profile.cloud]',
    'address = "ns.acct.tmprl.cloud:7233"',
    'namespace = "ns.acct"',
    'api_key = "cloud-key-0123"',
    '',
    '[profile.private]',
    'address = "temporal.internal:7233"',
    '[profile.private.tls]',
    `server_ca_cert_path = "${caFile}"`,
    'server_name = "temporal-cluster"',
    '',
  ].join('\n'),
);

describe('Temporal connection from the environment', () => {
  it('without variables or a config file: plaintext to localhost:7233, as before', () => {
    const config = readTemporalConfig({ ...isolated, TEMPORAL_ADDRESS: ' ', TEMPORAL_NAMESPACE: '' });
    expect(config).toEqual({ address: 'localhost:7233', namespace: 'default', taskQueue: 'replicate' });
    expect(temporalConnectionOptions(config)).toEqual({ address: 'localhost:7233' });
    expect(temporalSecurity(config)).toBe('');
  });

  it('a TOML profile with an API key: TLS on, the key in the connection options', () => {
    const config = readTemporalConfig({ ...isolated, TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'cloud' });
    expect(config).toMatchObject({
      address: 'ns.acct.tmprl.cloud:7233',
      namespace: 'ns.acct',
      apiKey: 'cloud-key-0123',
    });
    expect(temporalConnectionOptions(config)).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: {},
      apiKey: 'cloud-key-0123',
    });
    expect(temporalSecurity(config)).toBe(' over TLS with an API key');
  });

  it('the environment overrides the profile; TEMPORAL_TASK_QUEUE stays ours', () => {
    const config = readTemporalConfig({
      ...isolated,
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'cloud',
      TEMPORAL_ADDRESS: 'other.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'other',
      TEMPORAL_API_KEY: 'env-key-4567',
      TEMPORAL_TASK_QUEUE: 'gpu',
    });
    expect(config).toMatchObject({
      address: 'other.tmprl.cloud:7233',
      namespace: 'other',
      apiKey: 'env-key-4567',
      taskQueue: 'gpu',
      tls: {},
    });
  });

  it('the default profile of the default file ($XDG_CONFIG_HOME/temporalio/temporal.toml)', () => {
    const xdg = path.join(dir, 'xdg-default');
    mkdirSync(path.join(xdg, 'temporalio'), { recursive: true });
    writeFileSync(
      path.join(xdg, 'temporalio', 'temporal.toml'),
      '[profile.default]\naddress = "from-file:7233"\n',
    );
    expect(readTemporalConfig({ HOME: dir, XDG_CONFIG_HOME: xdg }).address).toBe('from-file:7233');
  });

  it('TLS with a private CA and a server name, from a profile or from TEMPORAL_TLS_*', () => {
    const fromProfile = readTemporalConfig({
      ...isolated,
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'private',
    });
    const fromEnv = readTemporalConfig({
      ...isolated,
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: caFile,
      TEMPORAL_TLS_SERVER_NAME: 'temporal-cluster',
    });
    for (const config of [fromProfile, fromEnv]) {
      expect(config.apiKey).toBeUndefined();
      expect(config.tls?.serverNameOverride).toBe('temporal-cluster');
      expect(Buffer.from(config.tls!.serverRootCACertificate!).toString()).toBe(CA);
      expect(temporalSecurity(config)).toBe(' over TLS');
    }
    // TEMPORAL_TLS=false turns the profile's TLS off
    const off = readTemporalConfig({
      ...isolated,
      TEMPORAL_CONFIG_FILE: toml,
      TEMPORAL_PROFILE: 'private',
      TEMPORAL_TLS: 'false',
    });
    expect(off.tls).toBeUndefined();
  });

  it.each([
    [
      { TEMPORAL_CONFIG_FILE: '/no/such/temporal.toml' },
      'TEMPORAL_CONFIG_FILE="/no/such/temporal.toml" does not exist',
    ],
    [
      { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'staging' },
      'TEMPORAL_PROFILE="staging" is not a profile in',
    ],
    [
      { TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/no/ca.pem' },
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH="/no/ca.pem" does not exist',
    ],
    [
      { TEMPORAL_TLS_CLIENT_CERT_PATH: caFile },
      'set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH',
    ],
    [
      { TEMPORAL_TLS_SERVER_CA_CERT_PATH: caFile, TEMPORAL_TLS_SERVER_CA_CERT_DATA: CA },
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH and TEMPORAL_TLS_SERVER_CA_CERT_DATA',
    ],
    [{ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }, 'set TEMPORAL_TLS_SERVER_NAME'],
    [{ TEMPORAL_ADDRESS: 'https://x' }, 'TEMPORAL_ADDRESS="https://x" must be host:port'],
  ])('rejects %j in one line', (env, message) => {
    const read = (): unknown => readTemporalConfig({ ...isolated, ...env });
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
  });

  it('a broken config file is one line that names it, without the key it holds', () => {
    const broken = file('broken.toml', '[profile.default]\napi_key = "secret-9876\naddress = 1:2\n');
    let message = '';
    try {
      readTemporalConfig({ ...isolated, TEMPORAL_CONFIG_FILE: broken });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(`"${broken}" cannot be read`);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('secret-9876');
  });
});

describe('worker health endpoints', () => {
  it('HEALTH_PORT unset = off; a port and HEALTH_HOST; a wrong port in one line', () => {
    expect(readHealth({})).toEqual({});
    expect(readHealth({ HEALTH_PORT: '8080' })).toEqual({ health: { port: 8080, host: '127.0.0.1' } });
    expect(readHealth({ HEALTH_PORT: '0', HEALTH_HOST: '0.0.0.0' })).toEqual({
      health: { port: 0, host: '0.0.0.0' },
    });
    expect(() => readHealth({ HEALTH_PORT: 'http' })).toThrow('HEALTH_PORT="http" must be a port number');
  });
});
