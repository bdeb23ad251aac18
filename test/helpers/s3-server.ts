/**
 * A real S3-compatible server on this machine for the output-store tests: moto's server mode (`moto[server]` from
 * PyPI, in the project's .venv like the Temporal CLI; `MOTO_SERVER_PATH` overrides). Why moto: it installs here
 * from a registry we reach (PyPI) with no Docker and no download of its own, speaks the S3 REST API over HTTP
 * (path-style, SigV4 accepted), and implements multipart uploads (create, upload part, complete, abort), which our
 * store streams through. MinIO would need a Go build of its server or a binary download.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CreateBucketCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import { ensureBinary } from '../../src/dev/binaries';
import { freePort } from '../../src/dev/dev-server';
import { s3ClientFromEnv } from '../../src/activities/output-files/s3';

export const MOTO_SERVER = {
  command: 'moto_server',
  envVar: 'MOTO_SERVER_PATH',
  pipPackage: 'moto[server]==5.2.5',
};

export interface S3Server {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** the standard AWS environment pointing at this server (what a worker would be given) */
  env: NodeJS.ProcessEnv;
  client: S3Client;
  createBucket(name: string): Promise<void>;
  /** every object in `bucket` (under `prefix`), with keys and sizes */
  list(bucket: string, prefix?: string): Promise<_Object[]>;
  stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
  const bin = ensureBinary(MOTO_SERVER);
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_resolve, reject) =>
    child.once('exit', (code) => reject(new Error(`moto_server exited (${code}): ${stderr}`))),
  );
  exited.catch(() => undefined);
  // ready when it answers HTTP: each attempt is a real request, bounded overall
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answered = await Promise.race([
      fetch(`${endpoint}/moto-api/`).then(
        () => true,
        () => false,
      ),
      exited,
    ]);
    if (answered) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: 'test-key',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL_S3: endpoint,
  };
  const client = await s3ClientFromEnv(env);
  return {
    endpoint,
    env,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async list(bucket, prefix) {
      const out: _Object[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        out.push(...(page.Contents ?? []));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async stop() {
      client.destroy();
      if (child.exitCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    },
  };
}
