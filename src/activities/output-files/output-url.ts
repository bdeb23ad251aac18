/** OUTPUT_URL, `s3://bucket[/prefix]`: parsed and checked without loading the S3 client (config.ts uses it). */

export interface S3Location {
  bucket: string;
  /** '/'-separated, no leading or trailing '/'; '' = the bucket's root */
  prefix: string;
}

export class OutputUrlError extends Error {
  override name = 'OutputUrlError';
}

/** `s3://bucket[/prefix]` → its bucket and prefix; anything else throws an OutputUrlError saying what is wrong. */
export function parseOutputUrl(url: string): S3Location {
  const fail = (why: string): never => {
    throw new OutputUrlError(`OUTPUT_URL="${url}" ${why}`);
  };
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(\/[^?#]*)?([?#].*)?$/.exec(url.trim());
  if (!m) return fail('is not a URL: use s3://bucket or s3://bucket/prefix');
  const [, scheme, bucket = '', rawPath = '', extra] = m;
  if (scheme!.toLowerCase() !== 's3')
    return fail(
      `is not supported: only s3://bucket[/prefix] is (set OUTPUT_DIR instead for a folder on the worker)`,
    );
  if (bucket === '') return fail('names no bucket: use s3://bucket or s3://bucket/prefix');
  if (bucket.includes('@') || bucket.includes(':'))
    return fail(
      'must not carry credentials or a port: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL_S3',
    );
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    return fail(
      `names an invalid bucket "${bucket}": 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit`,
    );
  if (extra) return fail('has a query or fragment: use s3://bucket or s3://bucket/prefix');
  const prefix = rawPath.replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && prefix.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return fail(`has an invalid prefix "${prefix}": no empty, '.' or '..' segments`);
  return { bucket, prefix };
}
