/** `reconcile`: find (and with --apply cancel) orphaned predictions, now or on a Schedule. */
import { parseDuration } from '../shared/duration';
import { RECONCILE_SCHEDULE_ID, ensureReconcilerSchedule } from '../client/temporal-setup';
import { reconcileOrphans } from '../workflows';
import type { OrphanReport, ReconcileOptions } from '../workflows/reconcile';
import { startWorkflow } from './connect';
import type { CliContext } from './context';
import { EXIT } from './errors';
import { UsageError, parseFor } from './usage';
import { watchForWorker } from './waiting';

export async function reconcileCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseFor(
    'reconcile',
    args,
    {
      apply: { type: 'boolean' },
      lookback: { type: 'string' },
      grace: { type: 'string' },
      schedule: { type: 'string' },
      unschedule: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    false,
  );
  const minutes = (flag: string, text: string | undefined, fallback: string) => {
    const d = parseDuration(text ?? fallback);
    if ('error' in d) throw new UsageError(`--${flag}: ${d.error}`, 'reconcile');
    return d.ms;
  };
  const options: ReconcileOptions = {
    apply: values.apply ?? false,
    lookbackMinutes: minutes('lookback', values.lookback, '60m') / 60_000,
    graceSeconds: minutes('grace', values.grace, '2m') / 1000,
  };
  const client = await ctx.client();
  if (values.unschedule) {
    await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
    ctx.out(
      values.json
        ? JSON.stringify({ scheduleId: RECONCILE_SCHEDULE_ID, deleted: true })
        : `deleted schedule ${RECONCILE_SCHEDULE_ID}`,
    );
    return EXIT.ok;
  }
  if (values.schedule !== undefined) {
    const every = minutes('schedule', values.schedule, '10m');
    if (every < 60_000)
      throw new UsageError('--schedule: run it at most once a minute (e.g. 10m)', 'reconcile');
    await ensureReconcilerSchedule(client, { taskQueue: ctx.taskQueue, everyMs: every, ...options });
    ctx.out(
      values.json
        ? JSON.stringify({ scheduleId: RECONCILE_SCHEDULE_ID, every: values.schedule, ...options })
        : `schedule ${RECONCILE_SCHEDULE_ID}: reconcile every ${values.schedule} (${options.apply ? 'canceling orphans' : 'dry run'})`,
    );
    return EXIT.ok;
  }
  const reconcileId = `reconcile-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const reconcile = await startWorkflow(client, reconcileId, ctx, () =>
    client.workflow.start(reconcileOrphans, {
      taskQueue: ctx.taskQueue,
      workflowId: reconcileId,
      args: [options],
      workflowExecutionTimeout: '10m',
    }),
  );
  const stopWorkerWatch = watchForWorker(client, async () => ctx.taskQueue, ctx);
  const report = await reconcile.result().finally(stopWorkerWatch);
  if (values.json) ctx.out(JSON.stringify(report));
  else printReport(report, ctx);
  return report.cancelFailed.length > 0 ? EXIT.failed : EXIT.ok;
}

function printReport(report: OrphanReport, ctx: CliContext): void {
  ctx.out(
    `${report.scanned} jobs listed, ${report.running} running, ${report.owned} owned by running workflows, ${report.orphans.length} orphaned`,
  );
  for (const o of report.orphans) {
    const fate = report.canceled.includes(o.id)
      ? 'canceled'
      : report.cancelFailed.includes(o.id)
        ? 'CANCEL FAILED'
        : 'left running (dry run)';
    ctx.out(`  ${o.kind} ${o.id}  ${o.model ?? ''}  ${o.status}  created ${o.createdAt}  -> ${fate}`);
  }
  if (report.dryRun && report.orphans.length > 0) ctx.out('dry run: add --apply to cancel them');
}
