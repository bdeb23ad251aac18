/**
 * Encryption keys of the payload codec: AES-256 keys (32 random bytes each), one current key that encrypts every new
 * payload and any number of old ones that still decrypt (key rotation). A key is named in payloads by its id, the
 * first 8 hex characters of its SHA-256: enough to tell a handful of keys apart, nothing usable about the key.
 */
import { createHash } from 'node:crypto';

export const KEY_BYTES = 32;

export interface EncryptionKeys {
  /** encrypts new payloads and decrypts its own (ENCRYPTION_KEY) */
  current: Uint8Array;
  /** decrypt only: keys rotated out (ENCRYPTION_KEYS_OLD) */
  old?: Uint8Array[];
}

/** The id a key is known by in payload metadata and error messages. */
export function encryptionKeyId(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

/**
 * The keys by id, the current one first (a key listed again is kept once); a TypeError names a key that is not 32
 * bytes, or two different keys with one id (a 1-in-4-billion chance: generate another).
 */
export function keyring(keys: EncryptionKeys): { currentId: string; byId: Map<string, Buffer> } {
  const all = [keys.current, ...(keys.old ?? [])];
  const byId = new Map<string, Buffer>();
  all.forEach((key, index) => {
    const which = index === 0 ? 'the current key' : `old key ${index}`;
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
      throw new TypeError(
        `${which} must be ${KEY_BYTES} bytes (AES-256), got ${key instanceof Uint8Array ? key.length : typeof key}`,
      );
    }
    const id = encryptionKeyId(key);
    const known = byId.get(id);
    if (known?.equals(key)) return;
    if (known) throw new TypeError(`${which} has the id ${id} of another key: generate another key`);
    byId.set(id, Buffer.from(key));
  });
  return { currentId: encryptionKeyId(keys.current), byId };
}
