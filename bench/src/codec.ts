/**
 * The compare scenario with the payload codec on (`--codec on|both`), to measure what encryption costs: the
 * workflow approaches run with the encrypting data converter (src/encryption) in the worker, the client and the
 * webhook receiver, all in this process, so the bench process's CPU includes every encrypt and decrypt. The codec
 * is wrapped to count payloads and bytes and to time its own work, a figure the machine's noise hardly touches.
 * With `both` each workflow approach runs without and then with the codec, one after the other, in one run.
 */
import { randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { DefaultLogger, bundleWorkflowCode } from '@temporalio/worker';
import { createDataConverter } from '../../src/encryption/data-converter';
import type { EncryptionKeys } from '../../src/encryption/keys';
import { workflowsPath } from '../../src/worker';
import type { BenchEnv } from './env';

export const CODEC_MODES = ['off', 'on', 'both'] as const;
export type CodecMode = (typeof CODEC_MODES)[number];

/** `--codec`'s value, or an error naming the option and the values it takes. */
export function parseCodec(raw: string | undefined): CodecMode {
  const value = (raw ?? 'off').trim().toLowerCase();
  if (!(CODEC_MODES as readonly string[]).includes(value))
    throw new Error(`--codec must be one of ${CODEC_MODES.join(', ')}, got "${raw}"`);
  return value as CodecMode;
}

/** What the codec did during one approach. */
export interface CodecWork {
  encodedPayloads: number;
  decodedPayloads: number;
  /** plaintext bytes in (encode) and out (decode) */
  bytes: number;
  /** time inside encode/decode (synchronous AES-GCM and protobuf), ms */
  ms: number;
}

/** A codec that counts and times the one it wraps. */
export class MeasuredCodec implements PayloadCodec {
  work: CodecWork = { encodedPayloads: 0, decodedPayloads: 0, bytes: 0, ms: 0 };

  constructor(private readonly inner: PayloadCodec) {}

  /** the work since the last call, and start counting afresh */
  take(): CodecWork {
    const work = this.work;
    this.work = { encodedPayloads: 0, decodedPayloads: 0, bytes: 0, ms: 0 };
    return work;
  }

  // EncryptionCodec does all its work before its promise is returned (no await inside): timing the call alone
  // measures the work, not the microtasks other work queues meanwhile.
  async encode(payloads: Payload[]): Promise<Payload[]> {
    const t0 = process.hrtime.bigint();
    const pending = this.inner.encode(payloads);
    this.count(t0, payloads, 'encodedPayloads');
    return pending;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    const t0 = process.hrtime.bigint();
    const pending = this.inner.decode(payloads);
    this.count(t0, payloads, 'decodedPayloads');
    const out = await pending;
    for (const p of out) this.work.bytes += p.data?.length ?? 0;
    return out;
  }

  private count(t0: bigint, payloads: Payload[], kind: 'encodedPayloads' | 'decodedPayloads'): void {
    this.work.ms += Number(process.hrtime.bigint() - t0) / 1e6;
    this.work[kind] += payloads.length;
    if (kind === 'encodedPayloads') for (const p of payloads) this.work.bytes += p.data?.length ?? 0;
  }
}

/** The encrypted side of a compare run: one key, one measured codec shared by worker, client and receiver. */
export interface BenchCodec {
  keys: EncryptionKeys;
  codec: MeasuredCodec;
  dataConverter: DataConverter;
  client: Client;
  bundle: { code: string };
}

export async function startBenchCodec(env: BenchEnv): Promise<BenchCodec> {
  const keys = { current: randomBytes(32) };
  const real = createDataConverter({ keys });
  const codec = new MeasuredCodec(real.payloadCodecs![0]!);
  const dataConverter: DataConverter = { ...real, payloadCodecs: [codec] };
  const bundle = await bundleWorkflowCode({
    workflowsPath,
    failureConverterPath: real.failureConverterPath!,
    logger: new DefaultLogger('WARN'),
  });
  return {
    keys,
    codec,
    dataConverter,
    client: new Client({ connection: env.connection, dataConverter }),
    bundle,
  };
}
