/**
 * Approval steps' waiting: the pipeline's `approveStep` Update (validated first: an unknown step, a step that is not
 * waiting or already decided is refused with a clear error and nothing changes) and the durable wait for it, a
 * `condition` with a timeout (a timer: no worker is held while a person thinks). Deterministic code only.
 */
import { condition, defineUpdate, setHandler } from '@temporalio/workflow';
import { STEP_CEILING_MARGIN_MS } from '../../shared/ceiling';
import type { Decision } from '../../shared/pipeline';
import type { PipelineResult } from './report';

/** `approveStep`'s argument: which step, the decision, why, who. */
export interface ApproveStepArgs {
  step: string;
  approve: boolean;
  reason?: string;
  by?: string;
}

/** Decide a waiting approval step; answers the recorded decision. */
export const approveStepUpdate = defineUpdate<Decision, [ApproveStepArgs]>('approveStep');

/** The longest `reason` and `by` accepted. */
const MAX_REASON = 2_000;
const MAX_BY = 200;

export class Approvals {
  /** the decision of each step now waiting, once given */
  private readonly decided = new Map<string, Decision>();
  private readonly waiting = new Set<string>();

  constructor(
    private readonly result: PipelineResult,
    private readonly pipelineId: string,
    /** the report changed: the Temporal UI's details follow */
    private readonly changed: () => void,
  ) {
    setHandler(approveStepUpdate, (args) => this.decide(args), {
      validator: (args) => this.validate(args),
      description:
        'Approve (approve: true) or reject a waiting approval step: { step, approve, reason?, by? }',
    });
  }

  /**
   * Wait for step `step`'s decision until `timeoutMs` from now, or until the pipeline's ceiling comes close; then
   * `onTimeout` decides.
   */
  async wait(
    step: string,
    request: { message: string; timeoutMs: number; onTimeout: 'reject' | 'approve' },
    ceilingMs: number,
  ): Promise<Decision> {
    const progress = this.result.steps[step]!;
    const until = Math.min(Date.now() + request.timeoutMs, ceilingMs - STEP_CEILING_MARGIN_MS);
    progress.approval = {
      message: request.message,
      waitingSince: new Date().toISOString(),
      deadline: new Date(until).toISOString(),
      onTimeout: request.onTimeout,
      decision: null,
    };
    progress.status = 'waiting';
    this.waiting.add(step);
    this.changed();
    try {
      const decided = await condition(() => this.decided.has(step), Math.max(1, until - Date.now()));
      const decision: Decision = decided
        ? this.decided.get(step)!
        : {
            approved: request.onTimeout === 'approve',
            by: 'timeout',
            reason: `no decision by ${progress.approval.deadline}`,
            at: new Date().toISOString(),
            timedOut: true,
          };
      progress.approval.decision = decision;
      return decision;
    } finally {
      this.waiting.delete(step);
      if (progress.status === 'waiting') progress.status = 'running';
      this.changed();
    }
  }

  /** The Update's validator: throws (nothing changes, nothing in the history) unless the step waits undecided. */
  private validate(args: ApproveStepArgs): void {
    if (typeof args !== 'object' || args === null || typeof args.step !== 'string')
      throw new TypeError(
        'approveStep takes { step: string, approve: boolean, reason?: string, by?: string }',
      );
    if (typeof args.approve !== 'boolean')
      throw new TypeError(`approve must be true or false, got ${JSON.stringify(args.approve) ?? 'nothing'}`);
    if (args.reason !== undefined && (typeof args.reason !== 'string' || args.reason.length > MAX_REASON))
      throw new TypeError(`reason must be text of at most ${MAX_REASON} characters`);
    if (args.by !== undefined && (typeof args.by !== 'string' || args.by.length > MAX_BY))
      throw new TypeError(`by must be text of at most ${MAX_BY} characters`);
    const progress = Object.hasOwn(this.result.steps, args.step) ? this.result.steps[args.step] : undefined;
    const approvals = Object.entries(this.result.steps)
      .filter(([, p]) => p.kind === 'approve')
      .map(([n]) => n);
    if (progress === undefined)
      throw new Error(
        `pipeline ${this.pipelineId} has no step '${args.step}'${approvals.length ? `; its approval steps: ${approvals.join(', ')}` : ' (and no approval steps)'}`,
      );
    if (progress.kind !== 'approve')
      throw new Error(
        `step '${args.step}' of pipeline ${this.pipelineId} is a ${progress.kind} step, not an approval step`,
      );
    const decision = progress.approval?.decision ?? this.decided.get(args.step);
    if (decision)
      throw new Error(
        `step '${args.step}' was already ${decision.approved ? 'approved' : 'rejected'} by ${decision.by} at ${decision.at}`,
      );
    if (!this.waiting.has(args.step))
      throw new Error(
        `step '${args.step}' is not waiting for a decision (it is ${progress.status}); approve it once it waits`,
      );
  }

  private decide(args: ApproveStepArgs): Decision {
    const decision: Decision = {
      approved: args.approve,
      by: args.by?.trim() || 'unknown',
      reason: args.reason?.trim() || null,
      at: new Date().toISOString(),
    };
    this.decided.set(args.step, decision);
    return decision;
  }
}
