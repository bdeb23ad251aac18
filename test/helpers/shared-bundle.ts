/**
 * One workflow bundle for the whole test run. Bundling (webpack) costs seconds of CPU, and vitest runs each test file
 * in its own module graph, so every file used to bundle again; test/global-setup.ts now builds it once and names its
 * file in TEST_WORKFLOW_BUNDLE. Plain mode only (no encryption, no interceptors): tests that need another build
 * bundle their own. Outside vitest's global setup (a single file run by hand with another runner) it bundles.
 */
import { readFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowsPath } from '../../src/worker';

/** Keeps webpack's report out of the test output. */
export const quietLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

export const SHARED_BUNDLE_ENV = 'TEST_WORKFLOW_BUNDLE';

export async function sharedWorkflowBundle(): Promise<{ code: string }> {
  const file = process.env[SHARED_BUNDLE_ENV];
  if (file) return { code: await readFile(file, 'utf8') };
  return bundleWorkflowCode({ workflowsPath, logger: quietLogger });
}

/** The shared bundle's file, for worker processes (WORKFLOW_BUNDLE); undefined outside vitest's global setup. */
export function sharedWorkflowBundlePath(): string | undefined {
  return process.env[SHARED_BUNDLE_ENV] || undefined;
}
