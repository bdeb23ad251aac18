import { FROM_PACKAGE } from './commands';

/** What to do when Temporal does not answer: the same words from the CLI, the worker and the demo. */
export const temporalUnreachableHint = FROM_PACKAGE
  ? 'is a Temporal server running there? Start one with `temporal server start-dev`, or set TEMPORAL_ADDRESS'
  : 'is a Temporal server running there? Start one with `npm run demo -- --keep` or as in the README (Quick start), or set TEMPORAL_ADDRESS';

/** One line: Temporal at `address` does not answer, why, and what to do. */
export function temporalUnreachable(address: string, reason: string): string {
  return `cannot reach Temporal at ${address} (${reason}); ${temporalUnreachableHint}`;
}

/** TLS settings as in TemporalConfig (src/config/index.ts). */
interface TlsSettings {
  serverNameOverride?: string;
  serverRootCACertificate?: Uint8Array;
}

const CERT_ERRORS =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/;

/**
 * Why a connection to `address` fails at the TLS layer, in words that say which variable to set; null when TLS is
 * not the problem (nothing answers, or the handshake works). A plain TLS handshake of our own: the SDK's errors say
 * only "Failed to connect before the deadline" (the client) or a Rust transport error (the worker).
 */
export async function tlsProblem(
  address: string,
  tls: TlsSettings | undefined,
  timeoutMs = 3_000,
): Promise<string | null> {
  const { connect } = await import('node:tls');
  const { isIP } = await import('node:net');
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  const port = Number(address.slice(at + 1));
  const servername = tls?.serverNameOverride ?? (isIP(host) ? undefined : host);
  const outcome = await new Promise<{ ok: true } | { ok: false; code: string; message: string }>(
    (resolve) => {
      const socket = connect({
        host,
        port,
        ...(servername ? { servername } : {}),
        ...(tls?.serverRootCACertificate ? { ca: [Buffer.from(tls.serverRootCACertificate)] } : {}),
        ALPNProtocols: ['h2'],
        rejectUnauthorized: tls !== undefined,
        timeout: timeoutMs,
      });
      const done = (result: { ok: true } | { ok: false; code: string; message: string }): void => {
        socket.destroy();
        resolve(result);
      };
      socket.once('secureConnect', () => done({ ok: true }));
      socket.once('timeout', () => done({ ok: false, code: 'TIMEOUT', message: 'no answer' }));
      socket.once('error', (error: NodeJS.ErrnoException) =>
        done({ ok: false, code: error.code ?? '', message: error.message }),
      );
    },
  );
  if (tls === undefined) {
    return outcome.ok
      ? 'the server requires TLS: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed its certificate (and TEMPORAL_TLS_SERVER_NAME to a name in it), or TEMPORAL_TLS=true for a publicly trusted one'
      : null;
  }
  if (outcome.ok) return null;
  if (CERT_ERRORS.test(outcome.code)) {
    return `the server's certificate is not trusted (${outcome.message}): set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it${tls.serverRootCACertificate ? ' (the one given did not)' : ''}`;
  }
  if (outcome.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `the server's certificate does not name ${servername ?? host} (${outcome.message}): set TEMPORAL_TLS_SERVER_NAME to a name in it`;
  }
  if (/wrong version number|packet length too long|unexpected eof/i.test(outcome.message)) {
    return 'the server does not speak TLS: set TEMPORAL_TLS=false, or unset TEMPORAL_TLS_* (an API key turns TLS on too)';
  }
  return null;
}

/** One line for a failed connection: the TLS problem if there is one, else "cannot reach Temporal" as before. */
export async function temporalConnectFailed(
  config: { address: string; tls?: TlsSettings },
  reason: string,
): Promise<string> {
  const problem = await tlsProblem(config.address, config.tls).catch(() => null);
  return problem
    ? `cannot connect to Temporal at ${config.address}: ${problem}`
    : temporalUnreachable(config.address, reason.split('\n')[0]!);
}
