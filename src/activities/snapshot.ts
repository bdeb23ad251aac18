/**
 * Replicate's prediction object -> the snapshot a workflow sees: trimmed so histories stay small, and treated as
 * untrusted input (texts capped and cleaned of the token; outputs over the inline limit left out, for the caller
 * to store as a claim check).
 */
import { ApplicationFailure } from '@temporalio/common';
import { isTerminal, type Prediction, type PredictionSnapshot } from '../shared/types';
import { MAX_INLINE_OUTPUT_BYTES, jsonBytes } from '../shared/claims';
import { MAX_OUTPUT_DEPTH, tooDeep, tooDeepMessage } from '../shared/depth';
import { PredictionFailureType } from '../shared/failures';

export const LOGS_TAIL_LINES = 20;
/** A model's log line or error message is text it chose: capped, so one line cannot fill a history. */
export const MAX_TEXT_CHARS = 2_000;

export interface SnapshotOptions {
  /** removed from every text Replicate echoes (error, logs) */
  token?: string;
  /** outputs whose JSON is larger are left out (`outputOmitted`) */
  maxInlineOutputBytes?: number;
}

/**
 * Trim Replicate's prediction object to what the workflow needs. An output nested past MAX_OUTPUT_DEPTH is
 * refused (non-retryable `PredictionOutputRefused`): nothing could carry or walk it safely.
 */
export function snapshot(p: Prediction, options: SnapshotOptions = {}): PredictionSnapshot {
  const clean = (text: string) => cap(redact(text, options.token ?? ''));
  const logs = typeof p.logs === 'string' ? p.logs.split('\n').filter((l) => l.trim() !== '') : [];
  const output = p.output ?? null;
  const deep = tooDeep(output, MAX_OUTPUT_DEPTH, 'output');
  if (deep) {
    throw ApplicationFailure.create({
      type: PredictionFailureType.OutputRefused,
      message: `${p.id}: the model's ${tooDeepMessage(deep).replace(/; flatten it.*$/, '')}; it cannot be passed on`,
      nonRetryable: true,
    });
  }
  const tooLarge =
    output !== null && jsonBytes(output) > (options.maxInlineOutputBytes ?? MAX_INLINE_OUTPUT_BYTES);
  return {
    id: p.id,
    model: p.model ?? null,
    version: p.version ?? null,
    status: p.status,
    output: tooLarge ? null : output,
    ...(tooLarge ? { outputOmitted: true } : {}),
    error: p.error === null || p.error === undefined ? null : clean(String(p.error)),
    logsTail: logs.slice(-LOGS_TAIL_LINES).map(clean),
    metrics: p.metrics ?? {},
    createdAt: p.created_at ?? null,
    startedAt: p.started_at ?? null,
    completedAt: p.completed_at ?? null,
    deadline: p.deadline ?? null,
    ...(p.data_removed ? { dataRemoved: true } : {}),
    urls: { get: p.urls?.get, cancel: p.urls?.cancel, web: p.urls?.web },
  };
}

/** Only a terminal job's output matters to the workflow; a running job's partial output is dropped if large. */
export function needsClaim(s: PredictionSnapshot): boolean {
  return s.outputOmitted === true && isTerminal(s.status);
}

/** Belt and braces: no text we pass on may carry the token, whatever Replicate echoes back. */
export function redact(text: string, token: string): string {
  return token ? text.split(token).join('***') : text;
}

function cap(text: string): string {
  return text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}… (${text.length} chars)` : text;
}
