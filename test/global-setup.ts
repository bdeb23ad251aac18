// Runs once before all test files: make sure the Temporal binaries exist (pip-installs them into .venv/ the
// first time), so parallel test files never race to install them; and bundle the workflow code once for every file
// (./helpers/shared-bundle.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { ensureBinary, TEMPORAL_CLI, TEMPORAL_TEST_SERVER } from '../src/dev/binaries';
import { workflowsPath } from '../src/worker';
import { quietLogger, SHARED_BUNDLE_ENV } from './helpers/shared-bundle';

export default async function setup(): Promise<() => void> {
  // the tests that encrypt set their own keys; a key in the developer's shell would encrypt the others' workers only
  delete process.env.ENCRYPTION_KEY;
  delete process.env.ENCRYPTION_KEYS_OLD;
  process.env.TEMPORAL_CLI_PATH = ensureBinary(TEMPORAL_CLI);
  process.env.TEMPORAL_TEST_SERVER_PATH = ensureBinary(TEMPORAL_TEST_SERVER);
  const dir = mkdtempSync(path.join(tmpdir(), 'replicate-temporal-bundle-'));
  const file = path.join(dir, 'workflow-bundle.js');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  writeFileSync(file, code);
  process.env[SHARED_BUNDLE_ENV] = file;
  return () => rmSync(dir, { recursive: true, force: true });
}
