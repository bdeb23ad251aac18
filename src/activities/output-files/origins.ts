/** Which origins output files may be fetched from: Replicate's delivery hosts, plus those configured. */
import { ApplicationFailure } from '@temporalio/activity';
import { PipelineFailureType } from '../../shared/failures';

/** Replicate serves output files from replicate.delivery and its subdomains (e.g. pbxt.replicate.delivery). */
export const REPLICATE_DELIVERY_DOMAIN = 'replicate.delivery';

/** The origin of `url` when it may be fetched (https on a delivery host, or a listed origin), else null. */
export function allowedOrigin(url: string, allowed: ReadonlySet<string>): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  if (allowed.has(u.origin)) return u.origin;
  const host = u.hostname.toLowerCase();
  const delivery = host === REPLICATE_DELIVERY_DOMAIN || host.endsWith(`.${REPLICATE_DELIVERY_DOMAIN}`);
  return delivery && u.protocol === 'https:' && u.port === '' ? u.origin : null;
}

/** The failure for a URL (or a redirect `via` one) off the allowed origins; `allowedText` lists them. */
export function notAllowed(url: string, allowedText: string, via?: string): ApplicationFailure {
  let origin = url;
  try {
    origin = new URL(url).origin;
  } catch {
    // keep the text
  }
  const what = via ? `output ${via} redirected to ${url}, which` : `output ${url}`;
  return ApplicationFailure.nonRetryable(
    `${what} is not on an allowed origin; outputs are fetched only from ${allowedText}. ` +
      `If ${origin} is trusted, add it to OUTPUT_ALLOWED_ORIGINS on the worker`,
    PipelineFailureType.OutputOriginNotAllowed,
  );
}
