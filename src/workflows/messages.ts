/** The queries and signals of a job run, shared by the workflow, the CLI, the webhook receiver and user code. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { PredictionSnapshot, PredictionState } from '../shared/types';

/** Live state of the run: job id, last status, polls, next poll time, last log lines. */
export const statusQuery = defineQuery<PredictionState>('status');

/** Replicate's webhook for this run's job, verified and forwarded by the webhook receiver. */
export const webhookSignal = defineSignal<[PredictionSnapshot]>('replicateWebhook');
