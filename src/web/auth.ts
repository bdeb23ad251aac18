/**
 * Who may use the page, and proof that a POST came from it.
 *
 * With an auth token, every request must carry `Authorization: Bearer <token>` or the session cookie the login
 * form sets (HttpOnly, SameSite=Strict, 12 h): `<expiry>.<HMAC(key, expiry)>`, the key derived from the token, so
 * changing the token signs everyone out and no session is kept in memory. Without a token (loopback only), the
 * standalone server accepts only this machine's host names (a DNS-rebinding page cannot reach it by another name).
 *
 * CSRF: every visitor gets a random `rt_csrf` cookie (HttpOnly, SameSite=Strict); every form carries
 * HMAC(secret, that cookie), and a POST is refused unless the two match (and its Origin, when sent, is this page's).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isHttps, parseCookies, setCookie } from './http';

export const SESSION_COOKIE = 'rt_session';
export const CSRF_COOKIE = 'rt_csrf';
export const SESSION_MS = 12 * 60 * 60 * 1000;

const b64 = (buf: Buffer) => buf.toString('base64url');

/** Equal strings, compared in constant time (of their hashes, so lengths leak nothing either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

export class WebAuth {
  private readonly sessionKey: Buffer | null;
  private readonly csrfKey: Buffer;

  constructor(
    private readonly token: string | undefined,
    private readonly cookiePath: string,
  ) {
    this.sessionKey = token
      ? createHmac('sha256', token).update('replicate-temporal web session v1').digest()
      : null;
    // with a token, CSRF tokens survive restarts and hold across instances behind one address
    this.csrfKey = token
      ? createHmac('sha256', token).update('replicate-temporal web csrf v1').digest()
      : randomBytes(32);
  }

  get required(): boolean {
    return this.token !== undefined;
  }

  /** Bearer token or a valid session cookie (always true without a token). */
  allows(req: IncomingMessage, nowMs = Date.now()): boolean {
    if (!this.token) return true;
    const header = req.headers.authorization;
    if (typeof header === 'string' && /^Bearer /i.test(header))
      return sameSecret(header.slice(7).trim(), this.token);
    const cookie = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    return cookie !== undefined && this.validSession(cookie, nowMs);
  }

  /** Signed in through the login form (not with a bearer header). */
  signedIn(req: IncomingMessage): boolean {
    return this.token !== undefined && parseCookies(req.headers.cookie)[SESSION_COOKIE] !== undefined;
  }

  checkPassword(given: string): boolean {
    return this.token !== undefined && sameSecret(given, this.token);
  }

  startSession(req: IncomingMessage, res: ServerResponse, nowMs = Date.now()): void {
    const expires = nowMs + SESSION_MS;
    setCookie(res, SESSION_COOKIE, `${expires}.${this.sign(String(expires))}`, {
      path: this.cookiePath,
      maxAgeSeconds: SESSION_MS / 1000,
      secure: isHttps(req),
    });
  }

  endSession(req: IncomingMessage, res: ServerResponse): void {
    setCookie(res, SESSION_COOKIE, '', { path: this.cookiePath, maxAgeSeconds: 0, secure: isHttps(req) });
  }

  /** This visitor's CSRF token, setting the cookie it is bound to when the visitor has none. */
  csrfToken(req: IncomingMessage, res: ServerResponse): string {
    let nonce = parseCookies(req.headers.cookie)[CSRF_COOKIE];
    if (!nonce || !/^[A-Za-z0-9_-]{32}$/.test(nonce)) {
      nonce = b64(randomBytes(24));
      setCookie(res, CSRF_COOKIE, nonce, { path: this.cookiePath, secure: isHttps(req) });
      // the request goes on as if it had sent it (a page rendered now posts with it)
      req.headers.cookie = `${req.headers.cookie ? `${req.headers.cookie}; ` : ''}${CSRF_COOKIE}=${nonce}`;
    }
    return this.csrfOf(nonce);
  }

  /** A POST's token matches its CSRF cookie, and its Origin (when the browser sent one) is the page's own. */
  csrfValid(req: IncomingMessage, given: string | null): boolean {
    const nonce = parseCookies(req.headers.cookie)[CSRF_COOKIE];
    if (!nonce || !given) return false;
    const origin = req.headers.origin;
    if (typeof origin === 'string' && origin !== 'null') {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        return false;
      }
      if (host !== req.headers.host) return false;
    }
    return sameSecret(this.csrfOf(nonce), given);
  }

  private csrfOf(nonce: string): string {
    return b64(createHmac('sha256', this.csrfKey).update(`csrf:${nonce}`).digest());
  }

  private sign(text: string): string {
    return b64(createHmac('sha256', this.sessionKey!).update(text).digest());
  }

  private validSession(cookie: string, nowMs: number): boolean {
    const [expires, signature] = cookie.split('.');
    if (!expires || !signature || !/^\d{1,16}$/.test(expires) || Number(expires) < nowMs) return false;
    return sameSecret(this.sign(expires), signature);
  }
}

/** Host names of this machine for `port`: what a loopback page without a token answers to. */
export function loopbackHosts(port: number): string[] {
  return ['127.0.0.1', 'localhost', '[::1]'].map((h) => `${h}:${port}`);
}
