/** The codec server's settings (`replicate-temporal codec-server`): CODEC_*, the workers' keys and namespace. */
import { isIP } from 'node:net';
import type { EncryptionKeys } from '../encryption/keys';
import { ConfigError, type Env } from './errors';
import { readOrigins } from './env-values';
import { readTemporalConfig } from './index';

export const DEFAULT_CODEC_PORT = 8888;

export interface CodecServerConfig {
  port: number;
  /** CODEC_HOST, default 127.0.0.1; another address only with authToken */
  host: string;
  /** CODEC_AUTH_TOKEN: every request needs `Authorization: Bearer <it>`; unset = none (loopback only) */
  authToken?: string;
  /** CODEC_CORS_ORIGIN: the Temporal UI's origin(s) browsers may call from; none = browsers refused */
  corsOrigins: string[];
  /** the namespace the keys belong to (TEMPORAL_NAMESPACE): requests naming another (X-Namespace) are refused */
  namespace: string;
  keys: EncryptionKeys;
}

export function readCodecServerConfig(env: Env = process.env): CodecServerConfig {
  const temporal = readTemporalConfig(env);
  if (!temporal.encryption) {
    throw new ConfigError(
      "ENCRYPTION_KEY is not set: the codec server decrypts with the workers' keys, give it the same ENCRYPTION_KEY (and ENCRYPTION_KEYS_OLD)",
    );
  }
  const portText = env.CODEC_PORT?.trim();
  const port = portText ? Number(portText) : DEFAULT_CODEC_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw new ConfigError(
      `CODEC_PORT="${portText}" must be a port number (0-65535; default ${DEFAULT_CODEC_PORT})`,
    );
  }
  const host = env.CODEC_HOST?.trim() || '127.0.0.1';
  const authToken = env.CODEC_AUTH_TOKEN?.trim() || undefined;
  if (authToken !== undefined && (authToken.length < 16 || /\s/.test(authToken))) {
    throw new ConfigError(
      'CODEC_AUTH_TOKEN must be at least 16 characters without spaces, e.g. from `openssl rand -hex 32`',
    );
  }
  if (authToken === undefined && !isLoopback(host)) {
    throw new ConfigError(
      `CODEC_HOST="${host}" is not a loopback address and CODEC_AUTH_TOKEN is not set: anyone who reaches it could decrypt; set CODEC_AUTH_TOKEN (e.g. \`openssl rand -hex 32\`), or bind 127.0.0.1`,
    );
  }
  return {
    port,
    host,
    ...(authToken ? { authToken } : {}),
    corsOrigins: readCorsOrigins(env),
    namespace: temporal.namespace,
    keys: temporal.encryption,
  };
}

/** 127.0.0.0/8, ::1 and localhost: only this machine connects. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
}

function readCorsOrigins(env: Env): string[] {
  // the Temporal UI's origin(s), e.g. http://localhost:8233
  return readOrigins(env, 'CODEC_CORS_ORIGIN', 'http://localhost:8233');
}
