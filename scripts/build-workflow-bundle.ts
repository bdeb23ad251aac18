/**
 * `npm run build:workflows [-- OUT]`: bundles src/workflows once, ahead of time, into lib/workflow-bundle.js (or
 * OUT). Start the worker with WORKFLOW_BUNDLE pointing at it: the worker then skips webpack at start-up, which
 * saves seconds and ~150 MB of RSS (see README, Benchmarks). Rebuild whenever workflow code changes.
 * The bundle always holds the OpenTelemetry workflow interceptor (src/observability/workflow-interceptors.ts), so the
 * same bundle serves a worker with OTEL_* tracing on or off (off, the worker drops its spans: README, Traces).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowInterceptorsModule } from '../src/observability/tracing';
import { workflowsPath } from '../src/worker';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'lib', 'workflow-bundle.js'));
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [workflowInterceptorsModule],
  });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, code);
  console.log(`wrote ${out} (${(code.length / 1024).toFixed(0)} KiB)`);
}

main().catch((error: unknown) => {
  console.error(`build:workflows: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
