/**
 * The S3 implementation of OutputStore (OUTPUT_URL=s3://bucket/prefix): the official AWS SDK v3, streamed
 * multipart uploads (`@aws-sdk/lib-storage`'s Upload: 5 MiB parts, at most 4 in memory per file; one PutObject
 * below that), keys under the prefix only. The client comes from the standard AWS environment: credentials
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the SDK's default chain), AWS_REGION, and
 * AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL for S3-compatible servers (path-style addressing then).
 */
import type { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Location } from './output-url';
import { asReadable, hashing, keySegments, OutputStoreError, type OutputStore } from './store';

export interface S3StoreOptions {
  /** the environment the client is configured from (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** a client of your own instead (its endpoint, region and credentials are used as they are) */
  client?: S3Client;
  /** multipart part size, bytes (default and minimum 5 MiB) */
  partSize?: number;
  /** parts uploaded at once per file (default 4) */
  queueSize?: number;
}

/**
 * The AWS SDK, loaded on first use: it adds start-up time to every process (the CLI, each worker) that imports
 * this module, and only a store with OUTPUT_URL needs it.
 */
const sdk = () => import('@aws-sdk/client-s3');

/** The S3 client for the standard AWS environment variables; path-style addressing when an endpoint is given. */
export async function s3ClientFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<S3Client> {
  // The SDK warns on Node < 22 that *later* releases will need it; the pinned release supports our Node (>= 20.3),
  // so the warning says nothing about this process. Set the variable to 'false' to see it anyway.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = env.AWS_ENDPOINT_URL_S3?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  const config: S3ClientConfig = {
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    // a bucket in another region than AWS_REGION still answers (AWS only)
    followRegionRedirects: true,
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // keys from `env` when it has them; otherwise the SDK's default chain (profiles, SSO, instance roles...)
    ...(accessKeyId && secretAccessKey
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(env.AWS_SESSION_TOKEN?.trim() ? { sessionToken: env.AWS_SESSION_TOKEN.trim() } : {}),
          },
        }
      : {}),
  };
  const { S3Client } = await sdk();
  return new S3Client(config);
}

const notFound = (error: unknown): boolean => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
};

export function s3OutputStore(location: S3Location, options: S3StoreOptions = {}): OutputStore {
  const { bucket, prefix } = location;
  let clientPromise: Promise<S3Client> | undefined;
  const s3 = () =>
    (clientPromise ??= options.client ? Promise.resolve(options.client) : s3ClientFromEnv(options.env));
  const fullKey = (key: string) => [...(prefix ? [prefix] : []), ...keySegments(key)].join('/');
  const url = (key: string) => `s3://${bucket}/${fullKey(key)}`;
  const failed = (what: string, key: string, error: unknown) => {
    const e = error as Error;
    return new OutputStoreError(`${what} ${url(key)} failed: ${e.name}: ${e.message}`, { cause: error });
  };
  return {
    location: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
    objectKey: fullKey,
    locate: url,
    async write(key, body, { contentType, attachment } = {}) {
      const [client, { Upload }] = await Promise.all([s3(), import('@aws-sdk/lib-storage')]);
      const source = asReadable(body);
      const { meter, result } = hashing();
      let sourceError: unknown;
      source.once('error', (error) => {
        sourceError = error;
        meter.destroy(error);
      });
      source.pipe(meter);
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: fullKey(key),
          Body: meter,
          ...(contentType ? { ContentType: contentType } : {}),
          ...(attachment ? { ContentDisposition: 'attachment' } : {}),
        },
        partSize: options.partSize,
        queueSize: options.queueSize,
        leavePartsOnError: false, // a failed multipart upload is aborted: no half object, no stray parts
      });
      try {
        await upload.done();
      } catch (error) {
        source.destroy();
        if (sourceError !== undefined) throw sourceError;
        throw failed('upload to', key, error);
      }
      if (sourceError !== undefined) throw sourceError;
      return result();
    },
    async size(key) {
      try {
        const [client, { HeadObjectCommand }] = await Promise.all([s3(), sdk()]);
        const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
        return head.ContentLength ?? null;
      } catch (error) {
        if (notFound(error)) return null;
        throw failed('HEAD', key, error);
      }
    },
    async read(key) {
      try {
        const [client, { GetObjectCommand }] = await Promise.all([s3(), sdk()]);
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
        return (got.Body as Readable | undefined) ?? null;
      } catch (error) {
        if (notFound(error)) return null;
        throw failed('GET', key, error);
      }
    },
    async *list(folder) {
      const [client, { ListObjectsV2Command }] = await Promise.all([s3(), sdk()]);
      const under = [...(prefix ? [prefix] : []), ...(folder === '' ? [] : keySegments(folder))].join('/');
      const strip = prefix ? `${prefix}/` : '';
      let token: string | undefined;
      do {
        let page;
        try {
          page = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: under ? `${under}/` : '',
              Delimiter: '/',
              ContinuationToken: token,
            }),
          );
        } catch (error) {
          throw failed('LIST', folder || '.', error);
        }
        for (const o of page.Contents ?? []) {
          if (!o.Key?.startsWith(strip)) continue;
          yield {
            key: o.Key.slice(strip.length),
            bytes: o.Size ?? 0,
            modifiedMs: o.LastModified?.getTime() ?? 0,
          };
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async presign(key, expiresInSeconds) {
      const [client, { GetObjectCommand }, { getSignedUrl }] = await Promise.all([
        s3(),
        sdk(),
        import('@aws-sdk/s3-request-presigner'),
      ]);
      try {
        return await getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }), {
          expiresIn: expiresInSeconds,
        });
      } catch (error) {
        throw failed('presign', key, error);
      }
    },
    async remove(key) {
      const [client, { DeleteObjectCommand }] = await Promise.all([s3(), sdk()]);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
      } catch (error) {
        if (!notFound(error)) throw failed('DELETE', key, error);
      }
    },
  };
}
