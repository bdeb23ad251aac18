/**
 * A kind of pipeline step: what its spec may say (`validate`), what runs it makes (`expand`), how they run (`run`,
 * through the capabilities the workflow lends it: StepRuntime), what a run costs (`cost`) and what identifies a
 * run's request (`request`: a rerun and the result cache compare it). A new kind is one file in ./kinds/ plus its
 * line in ./kinds/index.ts; the pipeline's own machinery (dependencies, skipping, fail-fast, budgets, reuse, the
 * report, persistence, the Temporal UI) is the same for every kind (src/workflows/steps/run-step.ts).
 *
 * Pure and deterministic: a kind's `run` only awaits what the runtime gives it, so it runs inside the workflow.
 */
import type { Report } from './helpers';
import type { PipelineSpec, StepSpec } from './spec';
import type { TemplateContext } from './templates';

/** One run of a step: its fan-out index, the `foreach` item, its input with templates resolved. */
export interface StepRunInput {
  index: number;
  item?: unknown;
  input: Record<string, unknown>;
}

/**
 * What a run asks for, as a rerun and the result cache compare it: the model (as the spec names it, a pinned version
 * included; `deployments/owner/name` for a deployment), the resolved input and the fan-out index (two samples of
 * `count: 2` are two results, never one).
 */
export interface RunRequest {
  model: string | null;
  input: Record<string, unknown>;
  index: number;
}

/** A person's decision on an approval step, as the report records it. */
export interface Decision {
  approved: boolean;
  /** who decided (`pipeline approve`'s user, or `timeout`) */
  by: string;
  reason: string | null;
  /** when (ISO 8601) */
  at: string;
  /** no one decided in time: `onTimeout` decided */
  timedOut?: boolean;
}

/** What one run of a step produced. */
export interface RunResult {
  output: unknown;
  /** the prediction that made it (null for a kind that creates none) */
  predictionId: string | null;
  /** the model that ran and the version Replicate reported */
  model: string | null;
  version: string | null;
  /** seconds of predict_time Replicate billed */
  predictTime: number;
  /** an approval step's decision */
  decision?: Decision;
}

/** A run's end: its result, or why it did not succeed (a typed failure, a cancellation). */
export type RunOutcome = { index: number; result: RunResult } | { index: number; error: unknown };

/** The capabilities the pipeline workflow lends a kind's `run`. */
export interface StepRuntime {
  /** the step's name */
  readonly step: string;
  /**
   * Run one prediction as a child workflow (the step's ceiling, the budget's ledger, fail-fast) and return its
   * result; throws its typed failure or a cancellation.
   */
  predict(run: {
    index: number;
    model: string;
    deployment: boolean;
    input: Record<string, unknown>;
    polling?: StepSpec['polling'];
    /** the step runs several predictions: child ids get `-<index>` */
    fannedOut: boolean;
    /** for the Temporal UI: which run this is */
    label: string;
  }): Promise<RunResult>;
  /** Pause (durably: a timer, no worker held) until a person decides through `approveStep`, or the timeout. */
  awaitDecision(request: {
    message: string;
    timeoutMs: number;
    onTimeout: 'reject' | 'approve';
  }): Promise<Decision>;
}

export interface StepKind {
  /** as the report names it */
  readonly name: string;
  /** the spec fields of this kind besides `needs` */
  readonly fields: readonly string[];
  /** whether a step (a mapping in the spec) is of this kind; the last registered kind takes the rest */
  matches(raw: Record<string, unknown>): boolean;
  /** check this kind's fields of `raw` (at `path`) into `step`; `defaults` are the pipeline's */
  validate(
    raw: Record<string, unknown>,
    path: string,
    step: StepSpec,
    defaults: { stepTimeout: string },
    err: Report,
  ): void;
  /** the models (or deployments) it runs: a budget needs a price for each */
  models(step: StepSpec): string[];
  /** its runs, templates resolved (throws PipelineSpecError at the field's path) */
  expand(spec: PipelineSpec, name: string, ctx: TemplateContext): StepRunInput[];
  /** what a run asks for; null when its results are never reused by the result cache */
  request(step: StepSpec, run: StepRunInput): RunRequest;
  /** whether `cache: true` may serve its runs */
  readonly cacheable: boolean;
  /** run the runs that nothing reused, each to its own end */
  run(rt: StepRuntime, spec: PipelineSpec, name: string, runs: StepRunInput[]): Promise<RunOutcome[]>;
  /** USD of `seconds` of predict_time of the step's runs; undefined when there is no price */
  cost(spec: PipelineSpec, step: StepSpec, seconds: number): number | undefined;
}
