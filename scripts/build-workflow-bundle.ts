/**
 * `npm run build:workflows [-- [--tracing] [--encrypted] OUT]`: bundles src/workflows once, ahead of time, into
 * lib/workflow-bundle.js (or OUT). Start the worker with WORKFLOW_BUNDLE pointing at it: the worker then skips webpack
 * at start-up, which saves seconds and ~150 MB of RSS (docs/benchmarks.md). Rebuild whenever workflow code changes.
 * `--tracing` adds the OpenTelemetry workflow interceptor (src/observability/workflow-interceptors.ts): needed for
 * workflow spans when the worker runs with OTEL_* tracing on; a worker with tracing off drops them, but the interceptor
 * still costs CPU in every workflow task (docs/observability.md, Traces), hence not by default.
 * `--encrypted` bundles the failure converter of encrypted deployments (src/encryption/failure-converter.ts: failure
 * messages into encrypted attributes): a worker with ENCRYPTION_KEY needs it, one without refuses it
 * (docs/encryption.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { workflowInterceptorsModule } from '../src/observability/tracing';
import { workflowsPath } from '../src/worker';
import { ENCRYPTED_FAILURE_CONVERTER_PATH } from '../src/encryption/data-converter';

const USAGE = `usage: npm run build:workflows [-- [--tracing] [OUT]]
Bundles the workflow code once into OUT (default lib/workflow-bundle.js); start workers with WORKFLOW_BUNDLE=OUT to
skip bundling at start-up. --tracing adds the OpenTelemetry workflow interceptor (for OTEL_* tracing workers).
Rebuild after every change of workflow code.`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const unknown = args.find((arg) => arg.startsWith('-') && arg !== '--tracing');
  if (unknown) throw new Error(`unknown option ${unknown}\n${USAGE}`);
  const tracing = args.includes('--tracing');
  const encrypted = args.includes('--encrypted');
  const [file] = args.filter((arg) => arg !== '--tracing' && arg !== '--encrypted');
  const out = path.resolve(file ?? path.join(__dirname, '..', 'lib', 'workflow-bundle.js'));
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: tracing ? [workflowInterceptorsModule] : [],
    ...(encrypted ? { failureConverterPath: ENCRYPTED_FAILURE_CONVERTER_PATH } : {}),
  });
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, code);
  const extras = [tracing ? 'with tracing' : '', encrypted ? 'encrypted failure messages' : ''].filter(
    Boolean,
  );
  console.log(`wrote ${out} (${(code.length / 1024).toFixed(0)} KiB${extras.map((e) => `, ${e}`).join('')})`);
}

main().catch((error: unknown) => {
  console.error(`build:workflows: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
