/**
 * The base URL Replicate posts webhooks to: Replicate's description asks for an HTTPS URL, so plain HTTP is refused
 * except on a loopback host (localhost, 127.0.0.0/8, ::1), which only a local simulator can reach. Used by the
 * worker's configuration (WEBHOOK_BASE_URL) and by createActivities({ webhookBaseUrl }) for embedders.
 */

/** A webhook base URL Replicate would refuse (or could never reach); the message names the setting and the fix. */
export class WebhookUrlError extends Error {
  override name = 'WebhookUrlError';
}

/** localhost, 127.0.0.0/8 or ::1 (as a URL's hostname gives it: IPv6 in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** Why `value` cannot be the webhook base URL (a sentence naming `setting`), or null when it can. */
export function webhookBaseUrlProblem(value: string, setting: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${setting}="${value}" is not a URL; use the public https:// address of the webhook receiver`;
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return null;
  if (url.protocol === 'http:') {
    return `${setting}="${value}" must start with https://: Replicate refuses webhook URLs that are not HTTPS (plain http:// is accepted only for localhost, 127.0.0.0/8 and ::1, for a local simulator)`;
  }
  return `${setting}="${value}" must start with https:// (the public address of the webhook receiver)`;
}

/** Throws a WebhookUrlError when `value` cannot be the webhook base URL. */
export function assertWebhookBaseUrl(value: string, setting: string): void {
  const problem = webhookBaseUrlProblem(value, setting);
  if (problem !== null) throw new WebhookUrlError(problem);
}
