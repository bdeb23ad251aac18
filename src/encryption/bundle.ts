/**
 * A prebuilt workflow bundle (WORKFLOW_BUNDLE) is built for one mode: with the encrypted deployment's failure
 * converter (`npm run build:workflows -- --encrypted`) or without. The failure converter runs in the sandbox, so a
 * worker with ENCRYPTION_KEY on a plain bundle would write workflow failure messages in clear, and one without on an
 * encrypted bundle would change what failures look like: both are refused at start.
 */
import { readFileSync } from 'node:fs';
import { ENCRYPTED_FAILURES_MARK } from './failure-converter';

/** A reason to refuse the bundle at `file` for this mode, or null when it fits. */
export function bundleModeProblem(file: string, encrypted: boolean): string | null {
  const built = readFileSync(file, 'utf8').includes(ENCRYPTED_FAILURES_MARK);
  if (built === encrypted) return null;
  return encrypted
    ? `WORKFLOW_BUNDLE="${file}" was built without encrypted failure messages, and ENCRYPTION_KEY is set: rebuild it with \`npm run build:workflows -- --encrypted\` (the image has lib/workflow-bundle-encrypted.js), or unset WORKFLOW_BUNDLE`
    : `WORKFLOW_BUNDLE="${file}" was built for encryption (--encrypted), and ENCRYPTION_KEY is not set: set ENCRYPTION_KEY, or use a bundle built without --encrypted`;
}
