/**
 * `createDataConverter({ keys })`: the data converter of an encrypted deployment, for every Temporal Client and
 * Worker that touches our workflows (`new Client({ dataConverter })`, `Worker.create({ dataConverter })`; a workflow
 * bundle you build yourself takes its failureConverterPath too: see bundleOptions). Payloads are encrypted by
 * EncryptionCodec; failure messages and stack traces are moved into encrypted attributes (./failure-converter.ts).
 */
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './codec';
import type { EncryptionKeys } from './keys';

/** The module the SDK loads as the failure converter, in the main thread (require) and the sandbox (webpack). */
export const ENCRYPTED_FAILURE_CONVERTER_PATH = path.join(__dirname, 'failure-converter');

export interface DataConverterOptions {
  /** the current key and the old ones (readEncryptionKeys reads them from ENCRYPTION_KEY, ENCRYPTION_KEYS_OLD) */
  keys: EncryptionKeys;
}

export function createDataConverter(options: DataConverterOptions): DataConverter {
  return {
    payloadCodecs: [new EncryptionCodec(options.keys)],
    failureConverterPath: ENCRYPTED_FAILURE_CONVERTER_PATH,
  };
}

/** createDataConverter for a configuration with keys; undefined (the SDK's default converter) without. */
export function dataConverterOf(config: { encryption?: EncryptionKeys }): DataConverter | undefined {
  return config.encryption ? createDataConverter({ keys: config.encryption }) : undefined;
}

/**
 * What `bundleWorkflowCode` needs for workflows that run with `dataConverter`: its failure converter, which runs in
 * the sandbox (the payload codec does not: the worker applies it outside).
 */
export function bundleOptions(dataConverter: DataConverter | undefined): { failureConverterPath?: string } {
  return dataConverter?.failureConverterPath
    ? { failureConverterPath: dataConverter.failureConverterPath }
    : {};
}
