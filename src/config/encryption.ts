/** ENCRYPTION_KEY, ENCRYPTION_KEYS_OLD: the payload codec's keys (src/encryption/keys.ts), never printed. */
import { encryptionKeyId, KEY_BYTES, type EncryptionKeys } from '../encryption/keys';
import { ConfigError, type Env } from './errors';

const HOW = `32 random bytes in base64 (44 characters), e.g. from \`openssl rand -base64 ${KEY_BYTES}\``;

/**
 * The keys, or null when ENCRYPTION_KEY is unset (payloads then go to Temporal as they are). ENCRYPTION_KEYS_OLD
 * (comma-separated) only decrypts: payloads written before a rotation.
 */
export function readEncryptionKeys(env: Env = process.env): EncryptionKeys | null {
  const current = env.ENCRYPTION_KEY?.trim();
  const oldText = env.ENCRYPTION_KEYS_OLD?.trim();
  if (!current) {
    if (oldText) {
      throw new ConfigError(
        'ENCRYPTION_KEYS_OLD is set but ENCRYPTION_KEY is not: set ENCRYPTION_KEY to the current key (old keys only decrypt)',
      );
    }
    return null;
  }
  const key = parseKey(current, 'ENCRYPTION_KEY');
  const seen = new Set([encryptionKeyId(key)]);
  const old: Uint8Array[] = [];
  (oldText ? oldText.split(',') : []).forEach((text, index) => {
    if (text.trim() === '') return;
    const oldKey = parseKey(text.trim(), `ENCRYPTION_KEYS_OLD (entry ${index + 1})`);
    const id = encryptionKeyId(oldKey);
    if (seen.has(id)) return; // the current key listed again, or a repeat: harmless
    seen.add(id);
    old.push(oldKey);
  });
  return old.length > 0 ? { current: key, old } : { current: key };
}

/** Strict base64 of exactly 32 bytes; the error names the variable and the fix, never the value. */
function parseKey(text: string, name: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  const canonical =
    /^[A-Za-z0-9+/]+={0,2}$/.test(text) &&
    bytes.toString('base64').replace(/=+$/, '') === text.replace(/=+$/, '');
  if (!canonical) throw new ConfigError(`${name} is not base64: it must be ${HOW}`);
  if (bytes.length !== KEY_BYTES) {
    throw new ConfigError(`${name} holds ${bytes.length} bytes: it must be ${HOW}`);
  }
  return bytes;
}
