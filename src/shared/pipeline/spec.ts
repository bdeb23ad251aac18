/** A pipeline spec: its shape once validated (see ./validate.ts), the defaults, and the error that lists problems. */
import { DEFAULT_PIPELINE_TIMEOUT, DEFAULT_STEP_TIMEOUT } from '../ceiling';

export interface StepSpec {
  /** owner/name, owner/name:version, or a bare version id (exactly one of model / deployment) */
  model?: string;
  /** a deployment, owner/name */
  deployment?: string;
  /** the model's input; may contain templates anywhere (nested objects and arrays); default {} */
  input: Record<string, unknown>;
  /** integer 1..50: fan-out into this many identical predictions */
  count?: number;
  /** a single `{{ }}` expression resolving to a list (at most 100 items): one prediction per item */
  foreach?: string;
  /** duration like 5m, 10s..24h; filled in by validation (the pipeline's `stepTimeout` when not given) */
  timeout?: string;
  /** extra dependencies (step names) on top of those the templates imply */
  needs?: string[];
  polling?: { initialIntervalMs?: number; multiplier?: number; maxIntervalMs?: number };
  /** reuse an earlier succeeded, persisted result of the same request instead of paying (the result cache) */
  cache?: boolean;
  /** an approval step (./kinds/approve.ts): pause until a person decides; no model, no input */
  approve?: ApprovalSpec;
}

/** `approve: { message, timeout, onTimeout }` of an approval step, defaults filled in. */
export interface ApprovalSpec {
  /** what the person is asked */
  message: string;
  /** how long to wait for a decision, 10s..7d (default 24h) */
  timeout: string;
  /** what happens when no one decides in time (default reject) */
  onTimeout: 'reject' | 'approve';
}

export interface PipelineSpec {
  /** `[a-z0-9][a-z0-9-]*`, up to 60 characters (used in workflow ids) */
  name: string;
  /** free text for people; ignored by the runner (an addition) */
  description?: string;
  /** pipeline inputs: declared defaults merged with the overrides; default {} */
  inputs: Record<string, unknown>;
  /** default 'fail-fast' */
  failure: 'fail-fast' | 'continue';
  /** pipeline-wide deadline, 10s..24h; filled in by validation (default '30m') */
  timeout?: string;
  /** default timeout of one step, 10s..24h; filled in by validation (default '10m') */
  stepTimeout?: string;
  /** model ref -> USD per second of predict_time, for cost estimates */
  prices?: Record<string, number>;
  /**
   * USD for the whole run: when the spend (ended jobs plus price × elapsed of the running ones)
   * reaches it, running jobs are canceled, nothing new starts, the run fails with BudgetExceeded
   */
  budget?: { usd: number };
  /** the default of every prediction step's `cache` (default false: a generator is usually asked for a new sample) */
  cache?: boolean;
  /** step names `[a-zA-Z][a-zA-Z0-9_-]*` (up to 60 characters); at least one step */
  steps: Record<string, StepSpec>;
}

/** One problem, at the path of the offending field, e.g. 'steps.upscale.foreach' or 'steps.generate.input.prompt'. */
export interface SpecError {
  path: string;
  message: string;
}

/** Every problem with a spec (or a run-time template failure); the message lists them one `path: message` a line. */
export class PipelineSpecError extends Error {
  constructor(readonly errors: SpecError[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
    this.name = 'PipelineSpecError';
  }
}

export const PIPELINE_DEFAULTS = {
  failure: 'fail-fast',
  timeout: DEFAULT_PIPELINE_TIMEOUT,
  stepTimeout: DEFAULT_STEP_TIMEOUT,
} as const;
