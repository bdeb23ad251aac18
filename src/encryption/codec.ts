/**
 * The payload codec: AES-256-GCM over the whole original payload (its metadata and data, serialized as the Payload
 * protobuf), a random 12-byte nonce per payload, the key id in the new payload's metadata. The format is the one of
 * Temporal's encryption samples (`encoding: binary/encrypted`, `encryption-key-id`, data = nonce | ciphertext | tag),
 * so their tools recognise it. Payloads without that encoding pass through decode unchanged: histories written before
 * encryption was on still replay and read.
 *
 * Node's `crypto` (OpenSSL) rather than WebCrypto: synchronous, no promise per payload, the same cipher. Codecs run
 * in the worker's and client's main thread, never in the workflow sandbox.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { keyring, type EncryptionKeys } from './keys';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const CIPHER = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be decrypted here: an unknown key id, or altered bytes. Never garbage instead. */
export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

export class EncryptionCodec implements PayloadCodec {
  private readonly currentId: string;
  private readonly keys: Map<string, Buffer>;

  constructor(keys: EncryptionKeys) {
    const ring = keyring(keys);
    this.currentId = ring.currentId;
    this.keys = ring.byId;
  }

  /** The ids of this codec's keys, the current one first. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private encrypt(payload: Payload): Payload {
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(CIPHER, this.keys.get(this.currentId)!, nonce, {
      authTagLength: TAG_BYTES,
    });
    const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(this.currentId),
      },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || Buffer.from(encoding).toString() !== ENCRYPTED_ENCODING) return payload;
    const idBytes = payload.metadata?.[KEY_ID_METADATA];
    if (!idBytes) {
      throw new DecryptionError(
        `an encrypted payload has no ${KEY_ID_METADATA}: it was not written by this codec`,
      );
    }
    const id = Buffer.from(idBytes).toString();
    const key = this.keys.get(id);
    if (!key) {
      throw new DecryptionError(
        `a payload is encrypted with key id ${printable(id)}, which this process does not have (it has ${this.describeKeys()}): set ENCRYPTION_KEY to that key, or add it to ENCRYPTION_KEYS_OLD`,
      );
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < NONCE_BYTES + TAG_BYTES) throw this.altered(id);
    const decipher = createDecipheriv(CIPHER, key, data.subarray(0, NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch {
      throw this.altered(id);
    }
    const decoded = temporal.api.common.v1.Payload.decode(plain);
    return { metadata: decoded.metadata, data: decoded.data };
  }

  private altered(id: string): DecryptionError {
    return new DecryptionError(
      `a payload encrypted with key id ${id} does not authenticate: it was altered or truncated after encryption`,
    );
  }

  private describeKeys(): string {
    const [current, ...old] = this.keyIds;
    return [`${current} (current)`, ...old.map((id) => `${id} (old)`)].join(', ');
  }
}

/** A key id as read from a payload, safe to print: hex as we write it, else a short quoted excerpt. */
function printable(id: string): string {
  return /^[0-9a-f]{8}$/.test(id) ? id : JSON.stringify(id.slice(0, 16));
}
