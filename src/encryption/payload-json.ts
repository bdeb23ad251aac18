/**
 * Payloads as the remote codec protocol carries them: `{"payloads": [...]}`, the proto3 JSON mapping of the Payloads
 * message (bytes as base64). protobufjs's own conversion (the SDK's @temporalio/proto) does the mapping: standard or
 * URL-safe base64, with or without padding, in; standard base64 out.
 */
import type { Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const Payloads = temporal.api.common.v1.Payloads;

/**
 * The payloads of a request body, or an Error saying what is wrong with it. `{}` is no payloads: proto3 JSON leaves
 * an empty repeated field out (the Temporal CLI sends it for a query without arguments).
 */
export function payloadsFromJson(body: unknown): Payload[] {
  const list = (body as { payloads?: unknown } | null)?.payloads;
  if (
    typeof body !== 'object' ||
    body === null ||
    Array.isArray(body) ||
    (list !== undefined && !Array.isArray(list))
  ) {
    throw new Error('the body must be a JSON object {"payloads": [...]} (Temporal Payloads in proto3 JSON)');
  }
  try {
    return Payloads.fromObject(body).payloads;
  } catch (error) {
    throw new Error(`the payloads are not Temporal Payloads in proto3 JSON (${(error as Error).message})`);
  }
}

/** Always with `payloads` (an empty list too), each payload without empty fields an older reader would not know. */
export function payloadsToJson(payloads: Payload[]): { payloads: unknown[] } {
  const json = Payloads.toObject(Payloads.create({ payloads }), { bytes: String }) as {
    payloads?: unknown[];
  };
  return { payloads: json.payloads ?? [] };
}
