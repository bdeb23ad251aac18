/**
 * The approval step: `approve: { message, timeout, onTimeout }` pauses the pipeline durably (a timer, no worker held)
 * until a person decides through the pipeline's `approveStep` Update (`pipeline approve ID STEP [--reject]`), or
 * the timeout decides (`onTimeout`, default reject). Approved: the step succeeds, its output the decision
 * (`{ approved, by, reason, at }`); rejected: it fails, and the dependents are skipped. Costs nothing.
 */
import { CEILING_RANGE_MS } from '../../ceiling';
import { parseDuration } from '../../duration';
import { checkUnknownFields } from '../fields';
import { describeType, describeValue, isPlainObject } from '../helpers';
import type { StepKind } from '../step-kind';

const APPROVE_FIELDS = ['message', 'timeout', 'onTimeout'] as const;
export const DEFAULT_APPROVAL_TIMEOUT = '24h';

export const approveStep: StepKind = {
  name: 'approve',
  // `input` only empty, as validation fills it in: a validated spec validates again
  fields: ['approve', 'input'],
  cacheable: false,
  matches: (raw) => raw.approve !== undefined,

  validate(raw, path, step, _defaults, err) {
    if (
      raw.input !== undefined &&
      raw.input !== null &&
      !(isPlainObject(raw.input) && Object.keys(raw.input).length === 0)
    )
      err(
        `${path}.input`,
        'an approval step has no input; what the person looks at comes from the steps it needs',
      );
    const a = raw.approve;
    const at = `${path}.approve`;
    if (!isPlainObject(a)) {
      err(at, `must be a mapping { message, timeout, onTimeout }, got ${describeType(a)}`);
      return;
    }
    checkUnknownFields(a, `${at}.`, APPROVE_FIELDS, err);
    if (typeof a.message !== 'string' || a.message.trim() === '') {
      err(
        `${at}.message`,
        `must say what the person decides, e.g. "look at the drafts", got ${describeValue(a.message)}`,
      );
    }
    let timeout = DEFAULT_APPROVAL_TIMEOUT;
    if (a.timeout !== undefined) {
      const d =
        typeof a.timeout === 'string'
          ? parseDuration(a.timeout)
          : { error: 'must be a duration such as 24h' };
      if ('error' in d) err(`${at}.timeout`, d.error);
      else if (d.ms < CEILING_RANGE_MS.min || d.ms > CEILING_RANGE_MS.max)
        err(`${at}.timeout`, `"${String(a.timeout)}" is out of range; an approval waits from 10s to 168h`);
      else timeout = a.timeout as string;
    }
    const onTimeout = a.onTimeout ?? 'reject';
    if (onTimeout !== 'reject' && onTimeout !== 'approve')
      err(`${at}.onTimeout`, `must be 'reject' or 'approve', got ${describeValue(onTimeout)}`);
    step.approve = {
      message: typeof a.message === 'string' ? a.message : '',
      timeout,
      onTimeout: onTimeout === 'approve' ? 'approve' : 'reject',
    };
  },

  models: () => [],

  expand: () => [{ index: 0, input: {} }],

  request: (step, run) => ({
    model: null,
    input: { approve: step.approve?.message ?? '' },
    index: run.index,
  }),

  async run(rt, spec, name) {
    const a = spec.steps[name]!.approve!;
    const d = parseDuration(a.timeout);
    const timeoutMs = 'ms' in d ? d.ms : 0;
    try {
      const decision = await rt.awaitDecision({ message: a.message, timeoutMs, onTimeout: a.onTimeout });
      if (!decision.approved) {
        const how = decision.timedOut
          ? `no one decided within ${a.timeout} (onTimeout: reject)`
          : `rejected by ${decision.by}${decision.reason ? `: ${decision.reason}` : ''}`;
        return [{ index: 0, error: new ApprovalRejected(`step ${name} was not approved: ${how}`, decision) }];
      }
      return [
        {
          index: 0,
          result: {
            output: decision,
            predictionId: null,
            model: null,
            version: null,
            predictTime: 0,
            decision,
          },
        },
      ];
    } catch (error) {
      return [{ index: 0, error }];
    }
  },

  cost: () => 0,
};

/** A rejected approval (by a person or by its timeout): the step fails with this message. */
export class ApprovalRejected extends Error {
  override name = 'ApprovalRejected';
  constructor(
    message: string,
    readonly decision: import('../step-kind').Decision,
  ) {
    super(message);
  }
}
