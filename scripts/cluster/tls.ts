/**
 * `up --tls` (or CLUSTER_TLS=1): a self-signed CA and a server certificate for the frontend, made with `openssl`
 * (run through child_process; Debian ships it), kept in CLUSTER_HOME/tls and reused by later `up`s. Clients trust
 * the CA with TEMPORAL_TLS_SERVER_CA_CERT_PATH and name the server TEMPORAL_TLS_SERVER_NAME (the certificate also
 * covers localhost and 127.0.0.1).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Layout } from './layout';

/** The name in the server certificate that clients check (TEMPORAL_TLS_SERVER_NAME). */
export const TLS_SERVER_NAME = 'temporal-cluster';

export interface ClusterTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  serverName: string;
}

function files(layout: Layout): ClusterTls & { caKey: string; marker: string } {
  const dir = path.join(layout.home, 'tls');
  return {
    caFile: path.join(dir, 'ca.pem'),
    caKey: path.join(dir, 'ca.key'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server.key'),
    serverName: TLS_SERVER_NAME,
    // written by `up --tls`, removed by a plain `up`: `status` and the cluster's own clients follow it
    marker: path.join(layout.runDir, 'tls-on'),
  };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: 'pipe' });
  } catch (error) {
    const e = error as { stderr?: Buffer; message: string; code?: string };
    if (e.code === 'ENOENT')
      throw new Error('openssl is not installed: apt-get install openssl, or run up without --tls');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim().split('\n')[0] || e.message}`);
  }
}

/** The CA and the server certificate, made once (reused while all files exist). */
export function ensureCertificates(layout: Layout): ClusterTls {
  const f = files(layout);
  const dir = path.dirname(f.caFile);
  if (!(existsSync(f.caFile) && existsSync(f.certFile) && existsSync(f.keyFile))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    openssl(
      ['req', '-x509', ...ec, '-keyout', f.caKey, '-out', f.caFile, '-days', '825']
        .concat(['-subj', '/CN=replicate-temporal cluster CA'])
        .concat([
          '-addext',
          'basicConstraints=critical,CA:TRUE',
          '-addext',
          'keyUsage=critical,keyCertSign,cRLSign',
        ]),
      dir,
    );
    const csr = path.join(dir, 'server.csr');
    const ext = path.join(dir, 'server.ext');
    openssl(
      ['req', '-new', ...ec, '-keyout', f.keyFile, '-out', csr, '-subj', `/CN=${TLS_SERVER_NAME}`],
      dir,
    );
    writeFileSync(
      ext,
      [
        `subjectAltName=DNS:${TLS_SERVER_NAME},DNS:localhost,IP:127.0.0.1`,
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    openssl(
      ['x509', '-req', '-in', csr, '-CA', f.caFile, '-CAkey', f.caKey, '-CAcreateserial'].concat([
        '-out',
        f.certFile,
        '-days',
        '825',
        '-extfile',
        ext,
      ]),
      dir,
    );
    rmSync(csr, { force: true });
  }
  return { caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile, serverName: f.serverName };
}

/** Records whether the running cluster serves TLS (every `up` sets it). */
export function setTlsMode(layout: Layout, on: boolean): void {
  const { marker } = files(layout);
  mkdirSync(path.dirname(marker), { recursive: true });
  if (on) writeFileSync(marker, 'on\n');
  else rmSync(marker, { force: true });
}

/** The cluster's TLS files while the last `up` turned TLS on, else null. */
export function clusterTls(layout: Layout): ClusterTls | null {
  const f = files(layout);
  if (!existsSync(f.marker) || !existsSync(f.caFile)) return null;
  return { caFile: f.caFile, certFile: f.certFile, keyFile: f.keyFile, serverName: f.serverName };
}

/** A client's TLS options for the cluster (the SDK's TLSConfig), or undefined for plaintext. */
export function clientTls(
  tls: ClusterTls | null,
): { serverNameOverride: string; serverRootCACertificate: Buffer } | undefined {
  return tls
    ? { serverNameOverride: tls.serverName, serverRootCACertificate: readFileSync(tls.caFile) }
    : undefined;
}

/** The environment a client of the cluster needs (printed by `up`, given to workers and the receiver). */
export function clientTlsEnv(tls: ClusterTls): Record<string, string> {
  return { TEMPORAL_TLS_SERVER_CA_CERT_PATH: tls.caFile, TEMPORAL_TLS_SERVER_NAME: tls.serverName };
}
