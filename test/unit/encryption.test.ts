/**
 * The payload codec (src/encryption): round trip, key rotation, tampering, unknown keys, pass-through of payloads
 * written without encryption, failure messages moved into encrypted attributes, and ENCRYPTION_KEY's reader.
 */
import { randomBytes } from 'node:crypto';
import {
  ApplicationFailure,
  DefaultFailureConverter,
  defaultPayloadConverter,
  type Payload,
} from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { ConfigError, readEncryptionKeys, readWorkerConfig } from '../../src/config';
import { DecryptionError, EncryptionCodec } from '../../src/encryption/codec';
import { createDataConverter } from '../../src/encryption/data-converter';
import { failureConverter } from '../../src/encryption/failure-converter';
import { encryptionKeyId } from '../../src/encryption/keys';

const PROMPT = 'a portrait of Jane Roe at 12 Elm Street';
const keyA = randomBytes(32);
const keyB = randomBytes(32);
const text = (bytes: Uint8Array | null | undefined): string => Buffer.from(bytes ?? []).toString('latin1');
const clear = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const valueOf = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);

describe('EncryptionCodec', () => {
  it('round-trips a payload; the stored bytes hold neither the value nor its encoding, only the key id', async () => {
    const codec = new EncryptionCodec({ current: keyA });
    const original = clear({ prompt: PROMPT, n: 1 });
    const [sealed] = await codec.encode([original]);
    expect(text(sealed!.data)).not.toContain('Jane Roe');
    expect(text(sealed!.data)).not.toContain('json/plain');
    expect(Object.keys(sealed!.metadata!).sort()).toEqual(['encoding', 'encryption-key-id']);
    expect(text(sealed!.metadata!.encoding)).toBe('binary/encrypted');
    expect(text(sealed!.metadata!['encryption-key-id'])).toBe(encryptionKeyId(keyA));
    expect(encryptionKeyId(keyA)).toMatch(/^[0-9a-f]{8}$/);
    const [opened] = await codec.decode([sealed!]);
    expect(valueOf(opened!)).toEqual({ prompt: PROMPT, n: 1 });
    expect(text(opened!.metadata!.encoding)).toBe('json/plain');
  });

  it('uses a fresh nonce per payload: the same value encrypts differently each time', async () => {
    const codec = new EncryptionCodec({ current: keyA });
    const [one, two] = await codec.encode([clear(PROMPT), clear(PROMPT)]);
    expect(Buffer.from(one!.data!).equals(Buffer.from(two!.data!))).toBe(false);
    expect(Buffer.from(one!.data!).subarray(0, 12).equals(Buffer.from(two!.data!).subarray(0, 12))).toBe(
      false,
    );
  });

  it('rotation: an old key still decrypts, new payloads use the current key', async () => {
    const before = new EncryptionCodec({ current: keyA });
    const [written] = await before.encode([clear(PROMPT)]);
    const after = new EncryptionCodec({ current: keyB, old: [keyA] });
    expect(valueOf((await after.decode([written!]))[0]!)).toBe(PROMPT);
    const [fresh] = await after.encode([clear(PROMPT)]);
    expect(text(fresh!.metadata!['encryption-key-id'])).toBe(encryptionKeyId(keyB));
    await expect(before.decode([fresh!])).rejects.toThrow(encryptionKeyId(keyB));
  });

  it('detects tampering: a flipped bit, a truncated payload and a swapped key id all fail, never decode to garbage', async () => {
    const codec = new EncryptionCodec({ current: keyA, old: [keyB] });
    const [sealed] = await codec.encode([clear(PROMPT)]);
    const data = Buffer.from(sealed!.data!);
    for (const at of [0, 12, data.length - 1]) {
      const flipped = Buffer.from(data);
      flipped[at]! ^= 0x01;
      await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toThrow(
        /key id [0-9a-f]{8} does not authenticate: it was altered/,
      );
    }
    await expect(codec.decode([{ ...sealed!, data: data.subarray(0, 20) }])).rejects.toThrow(DecryptionError);
    const swapped = {
      ...sealed!,
      metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from(encryptionKeyId(keyB)) },
    };
    await expect(codec.decode([swapped])).rejects.toThrow(/does not authenticate/);
  });

  it('an unknown key id fails with an error naming it and the ids this process has', async () => {
    const [sealed] = await new EncryptionCodec({ current: keyB }).encode([clear(PROMPT)]);
    const codec = new EncryptionCodec({ current: keyA });
    const error = await codec.decode([sealed!]).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(DecryptionError);
    expect((error as Error).message).toBe(
      `a payload is encrypted with key id ${encryptionKeyId(keyB)}, which this process does not have (it has ${encryptionKeyId(keyA)} (current)): set ENCRYPTION_KEY to that key, or add it to ENCRYPTION_KEYS_OLD`,
    );
    const noId = { metadata: { encoding: Buffer.from('binary/encrypted') }, data: sealed!.data };
    await expect(codec.decode([noId])).rejects.toThrow(/has no encryption-key-id/);
  });

  it('passes payloads without its encoding through decode unchanged (histories written before encryption)', async () => {
    const codec = new EncryptionCodec({ current: keyA });
    const plain = [
      clear({ prompt: PROMPT }),
      clear(null),
      clear(undefined),
      { metadata: {}, data: Buffer.from('x') },
    ];
    const decoded = await codec.decode(plain);
    decoded.forEach((payload, i) => expect(payload).toBe(plain[i]));
    expect(await codec.encode([])).toEqual([]);
  });

  it('refuses keys that are not 32 bytes, and a key listed twice under two roles only once', () => {
    expect(() => new EncryptionCodec({ current: randomBytes(16) })).toThrow(/current key must be 32 bytes/);
    expect(() => new EncryptionCodec({ current: keyA, old: [randomBytes(31)] })).toThrow(
      /old key 1 must be 32 bytes/,
    );
    expect(new EncryptionCodec({ current: keyA, old: [keyA, keyB] }).keyIds).toEqual([
      encryptionKeyId(keyA),
      encryptionKeyId(keyB),
    ]);
  });
});

describe('failure messages', () => {
  it('move into encrypted attributes: the failure says "Encoded failure", the codec hides the text, the client reads it back', async () => {
    const { payloadCodecs } = createDataConverter({ keys: { current: keyA } });
    const failure = failureConverter.errorToFailure(
      ApplicationFailure.create({ message: `the model refused "${PROMPT}"`, type: 'PredictionFailed' }),
      defaultPayloadConverter,
    );
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    expect(failure.applicationFailureInfo?.type).toBe('PredictionFailed'); // the type stays in clear
    const [sealed] = await payloadCodecs![0]!.encode([failure.encodedAttributes!]);
    expect(text(sealed!.data)).not.toContain('Jane Roe');
    const [opened] = await payloadCodecs![0]!.decode([sealed!]);
    const error = new DefaultFailureConverter().failureToError(
      { ...failure, encodedAttributes: opened },
      defaultPayloadConverter,
    );
    expect(error.message).toBe(`the model refused "${PROMPT}"`);
  });
});

describe('readEncryptionKeys', () => {
  const b64 = (bytes: Buffer): string => bytes.toString('base64');

  it('is null without ENCRYPTION_KEY; reads the current key and the old ones', () => {
    expect(readEncryptionKeys({})).toBeNull();
    expect(readEncryptionKeys({ ENCRYPTION_KEY: '  ' })).toBeNull();
    expect(readEncryptionKeys({ ENCRYPTION_KEY: b64(keyA) })).toEqual({ current: keyA });
    expect(
      readEncryptionKeys({ ENCRYPTION_KEY: b64(keyB), ENCRYPTION_KEYS_OLD: ` ${b64(keyA)} , ${b64(keyB)},` }),
    ).toEqual({ current: keyB, old: [keyA] });
  });

  it('refuses anything but base64 of 32 bytes in one line naming the variable and the fix, never the value', () => {
    const secretish = `${b64(keyA).slice(0, 40)}!!!!`;
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { ENCRYPTION_KEY: secretish },
        /^ENCRYPTION_KEY is not base64: it must be 32 random bytes in base64 \(44 characters\), e\.g\. from `openssl rand -base64 32`$/,
      ],
      [
        { ENCRYPTION_KEY: b64(randomBytes(16)) },
        /^ENCRYPTION_KEY holds 16 bytes: it must be 32 random bytes/,
      ],
      [{ ENCRYPTION_KEY: 'correct horse battery staple' }, /^ENCRYPTION_KEY is not base64/],
      [
        { ENCRYPTION_KEY: b64(keyA), ENCRYPTION_KEYS_OLD: `${b64(keyB)},abc` },
        /^ENCRYPTION_KEYS_OLD \(entry 2\) holds 2 bytes/,
      ],
      [
        { ENCRYPTION_KEYS_OLD: b64(keyA) },
        /^ENCRYPTION_KEYS_OLD is set but ENCRYPTION_KEY is not: set ENCRYPTION_KEY/,
      ],
    ];
    for (const [env, message] of cases) {
      const error = (() => {
        try {
          readEncryptionKeys(env);
        } catch (e) {
          return e as Error;
        }
        throw new Error(`accepted ${JSON.stringify(env)}`);
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(secretish);
      expect(error.message).not.toContain('\n');
    }
  });

  it('reaches the worker configuration, and a prebuilt bundle must match the mode', () => {
    const config = readWorkerConfig({ REPLICATE_API_TOKEN: 't', ENCRYPTION_KEY: b64(keyA) });
    expect(config.encryption).toEqual({ current: keyA });
    expect(readWorkerConfig({ REPLICATE_API_TOKEN: 't' }).encryption).toBeUndefined();
    expect(() =>
      readWorkerConfig({
        REPLICATE_API_TOKEN: 't',
        ENCRYPTION_KEY: b64(keyA),
        WORKFLOW_BUNDLE: 'package.json',
      }),
    ).toThrow(
      /WORKFLOW_BUNDLE="package.json" was built without encrypted failure messages, and ENCRYPTION_KEY is set: rebuild it with `npm run build:workflows -- --encrypted`/,
    );
  });
});
