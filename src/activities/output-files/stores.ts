/** The OutputStore for a setting: OUTPUT_URL (`s3://...`), OUTPUT_DIR (a folder), or a store of your own. */
import { parseOutputUrl } from './output-url';
import { s3OutputStore } from './s3';
import { localOutputStore, type OutputStore } from './store';

/**
 * The store for a setting: `s3://bucket[/prefix]` (OUTPUT_URL; the S3 client from the standard AWS environment
 * in `env`), a folder path (OUTPUT_DIR), or a store as it is.
 */
export function outputStore(spec: string | OutputStore, env: NodeJS.ProcessEnv = process.env): OutputStore {
  if (typeof spec !== 'string') return spec;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) return s3OutputStore(parseOutputUrl(spec), { env });
  return localOutputStore(spec);
}
