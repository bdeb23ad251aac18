/**
 * Webhook signature verification, Standard Webhooks (Svix) scheme as Replicate signs (docs/replicate-api.md §7):
 * - headers `webhook-id` (stable across retries), `webhook-timestamp` (unix seconds), `webhook-signature`
 *   (space-separated `v1,<base64>` entries; any match passes, other versions are ignored);
 * - signed content `${id}.${timestamp}.${rawBody}` over the RAW body bytes (never re-stringified JSON);
 * - key = base64-decode of the part after `whsec_`; HMAC-SHA256; base64.
 * Unlike the official JS `validateWebhook`, this compares in constant time and enforces a timestamp window.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface WebhookHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export type VerifyFailure = 'missing-headers' | 'bad-timestamp' | 'stale' | 'bad-signature';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/** Svix default: timestamps more than 5 minutes away from now (either direction) are rejected. */
export const DEFAULT_WEBHOOK_TOLERANCE_MS = 5 * 60 * 1000;

const SECRET_PREFIX = 'whsec_';
const TIMESTAMP = /^[0-9]{1,15}$/;

/** The HMAC key of a `whsec_<base64>` secret (a bare base64 secret is accepted too). */
export function webhookSigningKey(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return Buffer.from(encoded, 'base64');
}

/**
 * Verifies one delivery. `nowMs` is the receiver's clock (epoch ms); timestamps outside ±toleranceMs of it are
 * 'stale'. Fails closed: an empty secret (empty key) verifies nothing.
 */
export function verifyWebhook(
  headers: WebhookHeaders,
  rawBody: Buffer | string,
  secret: string,
  nowMs: number,
  toleranceMs: number = DEFAULT_WEBHOOK_TOLERANCE_MS,
): VerifyResult {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing-headers' };
  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'bad-timestamp' };
  const timestampMs = Number(timestamp) * 1000;
  if (!(Math.abs(nowMs - timestampMs) <= toleranceMs)) return { ok: false, reason: 'stale' };

  const key = webhookSigningKey(secret);
  if (key.length === 0) return { ok: false, reason: 'bad-signature' };
  const expected = Buffer.from(
    createHmac('sha256', key)
      .update(`${id}.${timestamp}.`)
      .update(typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody)
      .digest('base64'),
  );
  // Compare the base64 text, like Svix: no lenient decoding of the candidate.
  let matched = false;
  for (const entry of signature.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const candidate = Buffer.from(entry.slice(comma + 1));
    // Check every entry (no early exit) so timing does not tell which one matched.
    if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true;
  }
  return matched ? { ok: true } : { ok: false, reason: 'bad-signature' };
}
