/**
 * Pipelines: Replicate models chained into a DAG of steps, wired together with `{{ … }}` templates. Pure (no
 * Node built-ins, no I/O, no clocks or randomness): imported by the deterministic `runPipeline` workflow as well as
 * by the CLI. Reading a spec file lives in `src/pipeline-file.ts`.
 *
 * Templates
 * - `{{ inputs.K }}`                 a pipeline input (default from `inputs:`, overridable with `--input K=…`)
 * - `{{ steps.X.output }}`           step X's output; a list with one element per prediction when X is fanned out
 *                                    (has `count` or `foreach`)
 * - `{{ steps.X.outputs }}`          step X's outputs flattened into one list (see `flattenOutputs`)
 * - `{{ steps.X.input.K }}`          an input field of step X as sent (fanned out: the first prediction's)
 * - `{{ item }}`, `{{ index }}`      the current `foreach` element and its 0-based position (foreach steps only)
 * Any of these may be followed by `.key` or `[N]` accessors (`steps.X.outputs[0]`, `item.url`). Identifiers are
 * `[A-Za-z_][A-Za-z0-9_-]*`; whitespace is allowed just inside the braces.
 *
 * A string that is exactly one template (surrounding whitespace ignored) takes the referenced value with its type;
 * a template inside a larger string is interpolated: strings as is, numbers and booleans via `String()`, objects,
 * arrays and null via `JSON.stringify`, undefined as ''. Resolved values are never scanned for templates again, so
 * a literal `{{` can be passed to a model through a pipeline input.
 */
import { parseDuration } from './duration';
import { isCreateTarget, parseModelRef } from './model-ref';
import { MAX_INPUT_BYTES } from './validate';

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

export interface StepResultView {
  output: unknown;
  outputs: unknown[];
  input: Record<string, unknown>;
}

export interface TemplateContext {
  inputs: Record<string, unknown>;
  steps: Record<string, StepResultView>;
  item?: unknown;
  index?: number;
}

export const PIPELINE_DEFAULTS = { failure: 'fail-fast', timeout: '30m', stepTimeout: '10m' } as const;

/** Largest total input of one step's predictions: they all start in one workflow task, which Temporal caps at 4 MB. */
export const MAX_STEP_INPUT_BYTES = 3_000_000;

/**
 * Why a step's resolved inputs cannot be sent (each over MAX_INPUT_BYTES, or all together over
 * MAX_STEP_INPUT_BYTES), or null. A payload over Temporal's limit would fail every workflow task until the timeout.
 */
export function stepInputProblem(name: string, runs: { index: number; input: unknown }[]): string | null {
  let total = 0;
  for (const r of runs) {
    const size = new TextEncoder().encode(JSON.stringify(r.input)).length;
    total += size;
    if (size > MAX_INPUT_BYTES) {
      return `step ${name}: its input${runs.length > 1 ? ` [${r.index}]` : ''} is ${size} bytes of JSON, over the ${MAX_INPUT_BYTES}-byte limit (Temporal payloads are limited to 2 MB); pass large data as URLs`;
    }
  }
  if (total > MAX_STEP_INPUT_BYTES) {
    return `step ${name}: its ${runs.length} inputs are ${total} bytes of JSON together, over the ${MAX_STEP_INPUT_BYTES}-byte limit for one step (they start together, and Temporal limits what a workflow sends at once); pass large data as URLs`;
  }
  return null;
}

/**
 * What the `progress` query answers: a copy of the pipeline's report with the running steps' elapsed time filled
 * in. Read-only: queries must never change workflow state.
 */
export function progressSnapshot<
  T extends { steps: Record<string, { status: string; startedAt: string | null; elapsedMs: number | null }> },
>(result: T, nowMs: number): T {
  const steps = Object.fromEntries(
    Object.entries(result.steps).map(([name, p]) => [
      name,
      p.status === 'running' && p.startedAt ? { ...p, elapsedMs: nowMs - Date.parse(p.startedAt) } : { ...p },
    ]),
  );
  return { ...result, steps };
}

/**
 * The persist activity's timing, shared by the workflow (activity options) and the activity (defaults). The activity
 * heartbeats on a timer, also while it waits for an answer or a stalled stream, so the heartbeat timeout only
 * detects a dead worker; a download that stops sending data is ended by the activity's own idle timeout, with a
 * message that says so, and retried.
 */
export const PERSIST_ACTIVITY = {
  heartbeatTimeoutMs: 30_000,
  heartbeatIntervalMs: 5_000,
  idleTimeoutMs: 60_000,
} as const;
export const PIPELINE_LIMITS = {
  maxCount: 50,
  maxForeachItems: 100,
  minTimeoutMs: 10_000,
  maxTimeoutMs: 86_400_000,
  maxNameLength: 60,
} as const;

const PIPELINE_FIELDS = [
  'name',
  'description',
  'inputs',
  'failure',
  'timeout',
  'stepTimeout',
  'prices',
  'steps',
] as const;
const STEP_FIELDS = [
  'model',
  'deployment',
  'input',
  'count',
  'foreach',
  'timeout',
  'needs',
  'polling',
] as const;
const POLLING_FIELDS = ['initialIntervalMs', 'multiplier', 'maxIntervalMs'] as const;
const PIPELINE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const STEP_NAME = /^[a-zA-Z][a-zA-Z0-9_-]*$/;
const ONE_HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------------------------
// Templates: parsing

type Accessor = { key: string } | { index: number };

/** A parsed `{{ … }}` expression. */
type Ref =
  | { root: 'inputs'; name: string; rest: Accessor[] }
  | { root: 'steps'; step: string; field: 'output' | 'outputs' | 'input'; rest: Accessor[] }
  | { root: 'item' | 'index'; rest: Accessor[] };

interface Template {
  /** the template as written, braces included */
  text: string;
  ref: Ref;
}

/** A string split into literal text and templates. */
interface ParsedString {
  parts: (string | Template)[];
  /** the string is exactly one template (surrounding whitespace ignored): its value keeps its type */
  exact: Template | null;
}

const IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const INDEX = /\[(\d+)\]/y;
const REFERENCE_FORMS =
  'inputs.NAME, steps.STEP.output, steps.STEP.outputs, steps.STEP.input.NAME, item or index';
/** `{ inputs.x }}` and the like: a template that lost one of its opening braces */
const HALF_OPEN = /(^|[^{])\{\s*[A-Za-z_][\w.[\]-]*\s*\}\}/;

function parseExpression(expr: string): Ref | { error: string } {
  const segments: Accessor[] = [];
  let pos = 0;
  const ident = (): string | null => {
    IDENT.lastIndex = pos;
    const m = IDENT.exec(expr);
    if (!m) return null;
    pos = IDENT.lastIndex;
    return m[0];
  };
  const root = ident();
  if (root === null) return { error: `expected a reference such as ${REFERENCE_FORMS}` };
  while (pos < expr.length) {
    if (expr[pos] === '.') {
      pos++;
      const key = ident();
      if (key === null) return { error: `expected a name after '.' at '${expr.slice(pos - 1)}'` };
      segments.push({ key });
      continue;
    }
    INDEX.lastIndex = pos;
    const m = INDEX.exec(expr);
    if (m) {
      pos = INDEX.lastIndex;
      segments.push({ index: Number(m[1]) });
      continue;
    }
    return { error: `unexpected '${expr.slice(pos)}'; accessors are .name or [N]` };
  }
  const key = (a: Accessor | undefined): string | undefined => (a && 'key' in a ? a.key : undefined);
  switch (root) {
    case 'inputs': {
      const name = key(segments[0]);
      if (name === undefined) return { error: 'expected inputs.NAME' };
      return { root, name, rest: segments.slice(1) };
    }
    case 'steps': {
      const step = key(segments[0]);
      const field = key(segments[1]);
      if (step === undefined || (field !== 'output' && field !== 'outputs' && field !== 'input')) {
        return {
          error: `expected steps.STEP.output, steps.STEP.outputs or steps.STEP.input.NAME`,
        };
      }
      return { root, step, field, rest: segments.slice(2) };
    }
    case 'item':
    case 'index':
      return { root, rest: segments };
    default:
      return { error: `unknown reference root '${root}'; use ${REFERENCE_FORMS}` };
  }
}

/** Split `s` into literal text and templates; the error names the first malformed template. */
function parseString(s: string): ParsedString | { error: string } {
  const parts: (string | Template)[] = [];
  let pos = 0;
  for (;;) {
    const open = s.indexOf('{{', pos);
    const literal = s.slice(pos, open < 0 ? undefined : open);
    if (HALF_OPEN.test(literal)) {
      const m = HALF_OPEN.exec(literal)!;
      return {
        error: `unbalanced braces in '${m[0].slice(m[1]!.length)}'; a template is written {{ reference }}`,
      };
    }
    if (literal) parts.push(literal);
    if (open < 0) break;
    const close = s.indexOf('}}', open + 2);
    const nextOpen = s.indexOf('{{', open + 2);
    if (close < 0 || (nextOpen >= 0 && nextOpen < close)) {
      return { error: `unbalanced braces: '{{' at character ${open + 1} has no matching '}}'` };
    }
    const text = s.slice(open, close + 2);
    const expr = s.slice(open + 2, close).trim();
    if (expr === '') return { error: `empty template '${text}'; write e.g. {{ inputs.prompt }}` };
    const ref = parseExpression(expr);
    if ('error' in ref) return { error: `malformed template '${text}': ${ref.error}` };
    parts.push({ text, ref });
    pos = close + 2;
  }
  const templates = parts.filter((p): p is Template => typeof p !== 'string');
  const onlyWhitespace = parts.every((p) => typeof p !== 'string' || p.trim() === '');
  return { parts, exact: templates.length === 1 && onlyWhitespace ? templates[0]! : null };
}

/** Every string in `value` (deep) that contains template syntax, with its path. */
function* templateStrings(value: unknown, path: string): Generator<{ path: string; text: string }> {
  if (typeof value === 'string') {
    if (value.includes('{{') || value.includes('}}')) yield { path, text: value };
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* templateStrings(value[i], `${path}[${i}]`);
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) yield* templateStrings(v, `${path}.${k}`);
  }
}

function refText(ref: Ref): string {
  const head =
    ref.root === 'inputs'
      ? `inputs.${ref.name}`
      : ref.root === 'steps'
        ? `steps.${ref.step}.${ref.field}`
        : ref.root;
  return head + ref.rest.map((a) => ('key' in a ? `.${a.key}` : `[${a.index}]`)).join('');
}

// ---------------------------------------------------------------------------------------------------------------
// Templates: evaluation

/** Follow `.key` / `[N]` accessors into `value`; `desc` names the value for messages. */
function walk(value: unknown, rest: Accessor[], desc: string): { value: unknown } | { error: string } {
  let current = value;
  let here = desc;
  for (const a of rest) {
    if ('index' in a) {
      if (!Array.isArray(current)) {
        return {
          error: `type mismatch: ${here} is ${describeType(current)}, not a list; cannot take [${a.index}]`,
        };
      }
      if (a.index >= current.length) {
        return { error: `${here} has ${current.length} item(s); [${a.index}] is out of range` };
      }
      current = current[a.index];
      here += `[${a.index}]`;
    } else {
      if (!isPlainObject(current)) {
        const hint = Array.isArray(current) ? '; index a list with [N]' : '';
        return {
          error: `type mismatch: ${here} is ${describeType(current)}, not an object; cannot take .${a.key}${hint}`,
        };
      }
      if (!Object.hasOwn(current, a.key)) {
        return { error: `${here} has no field '${a.key}'` };
      }
      current = current[a.key];
      here += `.${a.key}`;
    }
  }
  return { value: current };
}

function evaluate(ref: Ref, ctx: TemplateContext): { value: unknown } | { error: string } {
  switch (ref.root) {
    case 'inputs':
      if (!Object.hasOwn(ctx.inputs, ref.name)) {
        return { error: unknownInput(ref.name) };
      }
      return walk(ctx.inputs[ref.name], ref.rest, `inputs.${ref.name}`);
    case 'steps': {
      const view = Object.hasOwn(ctx.steps, ref.step) ? ctx.steps[ref.step] : undefined;
      if (view === undefined) return { error: `step '${ref.step}' has no result (it has not run)` };
      if (ref.field === 'input') {
        const k = ref.rest[0];
        if (k && 'key' in k && !Object.hasOwn(view.input, k.key)) {
          return { error: `step '${ref.step}' has no input '${k.key}'` };
        }
      }
      return walk(view[ref.field], ref.rest, `steps.${ref.step}.${ref.field}`);
    }
    case 'item':
    case 'index':
      if (ctx.index === undefined) return { error: `'${ref.root}' is only available in a step with foreach` };
      return walk(ref.root === 'item' ? ctx.item : ctx.index, ref.rest, ref.root);
  }
}

function interpolate(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? '';
}

/**
 * Resolve every template in `value` (deep), returning a new value; `path` names `value` in errors (sub-paths are
 * `path.key` and `path[N]`). Throws PipelineSpecError with the path on a malformed template, an unresolvable
 * reference or a type mismatch.
 */
export function resolveTemplates(value: unknown, ctx: TemplateContext, path: string): unknown {
  if (typeof value === 'string') {
    if (!value.includes('{{') && !value.includes('}}')) return value;
    const parsed = parseString(value);
    if ('error' in parsed) throw new PipelineSpecError([{ path, message: parsed.error }]);
    const resolve = (t: Template): unknown => {
      const r = evaluate(t.ref, ctx);
      if ('error' in r) throw new PipelineSpecError([{ path, message: `${t.text}: ${r.error}` }]);
      return r.value;
    };
    if (parsed.exact) return resolve(parsed.exact);
    return parsed.parts.map((p) => (typeof p === 'string' ? p : interpolate(resolve(p)))).join('');
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveTemplates(v, ctx, `${path}[${i}]`));
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveTemplates(v, ctx, `${path}.${k}`);
    return out;
  }
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs, fan-out, cost

/** True when the step runs several predictions (`count` or `foreach`): its `output` is then a list. */
export function isFannedOut(step: StepSpec): boolean {
  return step.count !== undefined || step.foreach !== undefined;
}

/**
 * Flatten per-prediction outputs into one list: a list output contributes its elements (one level), any other
 * output itself; null and undefined (at either level) are dropped.
 */
export function flattenOutputs(outputs: unknown[]): unknown[] {
  const flat: unknown[] = [];
  for (const o of outputs) {
    if (Array.isArray(o)) {
      for (const e of o) if (e !== null && e !== undefined) flat.push(e);
    } else if (o !== null && o !== undefined) {
      flat.push(o);
    }
  }
  return flat;
}

/**
 * What later steps see of a finished step, built from its runs in order (an addition, so the workflow and the
 * templates agree): fanned out, `output` is the list of outputs and `input` the first run's input; otherwise the
 * single run's output and input. Pass failed runs of a `continue` pipeline with output null (dropped from
 * `outputs`).
 */
export function stepResultView(
  step: StepSpec,
  runs: { input: Record<string, unknown>; output: unknown }[],
): StepResultView {
  const outputs = runs.map((r) => r.output);
  return {
    output: isFannedOut(step) ? outputs : outputs[0],
    outputs: flattenOutputs(outputs),
    input: runs[0]?.input ?? {},
  };
}

/**
 * The runs of one step with their resolved inputs: for `foreach`, one per item (with `item` and `index`); for
 * `count`, N identical ones; else one. Throws PipelineSpecError (path `steps.NAME.…`) when a template does not
 * resolve, `foreach` does not give a list, or the list has more than 100 items.
 */
export function expandStep(
  spec: PipelineSpec,
  name: string,
  ctx: TemplateContext,
): { index: number; item?: unknown; input: Record<string, unknown> }[] {
  const step = Object.hasOwn(spec.steps, name) ? spec.steps[name] : undefined;
  if (step === undefined)
    throw new PipelineSpecError([{ path: `steps.${name}`, message: `unknown step '${name}'` }]);
  const base: TemplateContext = { inputs: ctx.inputs, steps: ctx.steps };
  const inputPath = `steps.${name}.input`;
  const resolveInput = (c: TemplateContext): Record<string, unknown> =>
    resolveTemplates(step.input, c, inputPath) as Record<string, unknown>;

  if (step.foreach !== undefined) {
    const path = `steps.${name}.foreach`;
    const items = resolveTemplates(step.foreach, base, path);
    if (!Array.isArray(items)) {
      const message = `type mismatch: ${step.foreach.trim()} is ${describeType(items)}; foreach needs a list`;
      throw new PipelineSpecError([{ path, message }]);
    }
    if (items.length > PIPELINE_LIMITS.maxForeachItems) {
      const message = `${step.foreach.trim()} has ${items.length} items; foreach allows at most ${PIPELINE_LIMITS.maxForeachItems}`;
      throw new PipelineSpecError([{ path, message }]);
    }
    return items.map((item, index) => ({ index, item, input: resolveInput({ ...base, item, index }) }));
  }
  const n = step.count ?? 1;
  return Array.from({ length: n }, (_, index) => ({ index, input: resolveInput(base) }));
}

/**
 * Estimated USD of one prediction: `predictTimeSeconds` × the price of `model` (looked up as written, then without
 * its `:version`); undefined when there is no price for it or no usable time. Sum it over a step's predictions.
 */
export function estimateCost(
  prices: Record<string, number> | undefined,
  model: string,
  predictTimeSeconds: number,
): number | undefined {
  if (prices === undefined || !Number.isFinite(predictTimeSeconds) || predictTimeSeconds < 0)
    return undefined;
  const lookup = (key: string): number | undefined => (Object.hasOwn(prices, key) ? prices[key] : undefined);
  const price =
    lookup(model) ?? (model.includes(':') ? lookup(model.slice(0, model.indexOf(':'))) : undefined);
  return price === undefined ? undefined : price * predictTimeSeconds;
}

/** The pipeline-wide deadline in ms (spec.timeout, default 30m). */
export function pipelineTimeoutMs(spec: PipelineSpec): number {
  return durationMs(spec.timeout ?? PIPELINE_DEFAULTS.timeout);
}

/** The timeout of one step in ms: its own `timeout`, else the pipeline's `stepTimeout`, else 10m. */
export function stepTimeoutMs(spec: PipelineSpec, name: string): number {
  const step = Object.hasOwn(spec.steps, name) ? spec.steps[name] : undefined;
  return durationMs(step?.timeout ?? spec.stepTimeout ?? PIPELINE_DEFAULTS.stepTimeout);
}

function durationMs(text: string): number {
  const d = parseDuration(text);
  if ('error' in d) throw new PipelineSpecError([{ path: 'timeout', message: d.error }]);
  return d.ms;
}

// ---------------------------------------------------------------------------------------------------------------
// Dependencies and order

/** Each dependency of each step with the path of the first field that creates it. */
function dependencyEdges(steps: Record<string, StepSpec>): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const [name, step] of Object.entries(steps)) {
    const deps = new Map<string, string>();
    const add = (dep: string, path: string): void => {
      if (dep !== name && Object.hasOwn(steps, dep) && !deps.has(dep)) deps.set(dep, path);
    };
    const sources: [unknown, string][] = [
      [step.foreach, `steps.${name}.foreach`],
      [step.input, `steps.${name}.input`],
    ];
    for (const [value, base] of sources) {
      for (const { path, text } of templateStrings(value, base)) {
        const parsed = parseString(text);
        if ('error' in parsed) continue;
        for (const p of parsed.parts)
          if (typeof p !== 'string' && p.ref.root === 'steps') add(p.ref.step, path);
      }
    }
    if (Array.isArray(step.needs)) {
      for (const dep of step.needs) if (typeof dep === 'string') add(dep, `steps.${name}.needs`);
    }
    edges.set(name, deps);
  }
  return edges;
}

/** Direct dependencies of each step (from templates in input/foreach, plus needs), in declaration order. */
export function stepDependencies(spec: PipelineSpec): Record<string, string[]> {
  const names = Object.keys(spec.steps);
  const edges = dependencyEdges(spec.steps);
  const result: Record<string, string[]> = {};
  for (const name of names) {
    const deps = edges.get(name) ?? new Map<string, string>();
    result[name] = names.filter((n) => deps.has(n));
  }
  return result;
}

/**
 * Steps in a valid execution order: topological, ties broken by declaration order. Throws PipelineSpecError on a
 * cycle (validated specs have none).
 */
export function topologicalOrder(spec: PipelineSpec): string[] {
  const deps = stepDependencies(spec);
  const names = Object.keys(spec.steps);
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < names.length) {
    const next = names.find((n) => !done.has(n) && (deps[n] ?? []).every((d) => done.has(d)));
    if (next === undefined) {
      const cycles = findCycles(spec.steps);
      throw new PipelineSpecError(
        cycles.length > 0 ? cycles : [{ path: 'steps', message: 'dependency cycle between steps' }],
      );
    }
    done.add(next);
    order.push(next);
  }
  return order;
}

/** One error per cycle found by a depth-first search in declaration order, at the field of its first edge. */
function findCycles(steps: Record<string, StepSpec>): SpecError[] {
  const edges = dependencyEdges(steps);
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const errors: SpecError[] = [];
  const visit = (name: string): void => {
    state.set(name, 'active');
    stack.push(name);
    for (const dep of edges.get(name)?.keys() ?? []) {
      const s = state.get(dep);
      if (s === 'active') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep];
        const first = cycle[0]!;
        const path = edges.get(first)?.get(cycle[1]!) ?? `steps.${first}`;
        errors.push({ path, message: `dependency cycle: ${cycle.join(' -> ')}` });
      } else if (s === undefined) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of Object.keys(steps)) if (!state.has(name)) visit(name);
  return errors;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation

/**
 * Validate an already-parsed spec (from YAML or JSON) and apply defaults: `inputs` {} merged with
 * `inputOverrides` (which replace defaults and may add inputs; values are taken as given, so a string stays a
 * string — `parseInputOverrides` in src/pipeline-file.ts JSON-parses CLI values first), `failure` 'fail-fast',
 * `timeout` '30m', `stepTimeout` '10m', each step's `timeout` (the pipeline's `stepTimeout`) and `input` ({}).
 * Returns every problem at once, each at the path of its field.
 */
export function validatePipelineSpec(
  raw: unknown,
  inputOverrides?: Record<string, unknown>,
): { spec: PipelineSpec } | { errors: SpecError[] } {
  const errors: SpecError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  if (!isPlainObject(raw)) {
    err('(spec)', `must be a mapping with name and steps, got ${describeType(raw)}`);
    return { errors };
  }
  checkUnknownFields(raw, '', PIPELINE_FIELDS, err);

  // name
  const name = raw.name;
  if (name === undefined) {
    err('name', "missing; give the pipeline a name such as 'poster'");
  } else if (
    typeof name !== 'string' ||
    !PIPELINE_NAME.test(name) ||
    name.length > PIPELINE_LIMITS.maxNameLength
  ) {
    err(
      'name',
      `${describeValue(name)} is not a valid name; use lowercase letters, digits and '-', starting with a letter or digit, at most ${PIPELINE_LIMITS.maxNameLength} characters`,
    );
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    err('description', `must be text, got ${describeType(raw.description)}`);
  }

  // inputs
  let inputs: Record<string, unknown> = {};
  if (raw.inputs !== undefined && raw.inputs !== null) {
    if (isPlainObject(raw.inputs)) inputs = cloneData(raw.inputs) as Record<string, unknown>;
    else err('inputs', `must be a mapping of input names to default values, got ${describeType(raw.inputs)}`);
  }
  if (inputOverrides) inputs = { ...inputs, ...inputOverrides };

  // failure
  let failure: PipelineSpec['failure'] = PIPELINE_DEFAULTS.failure;
  if (raw.failure !== undefined) {
    if (raw.failure === 'fail-fast' || raw.failure === 'continue') failure = raw.failure;
    else err('failure', `must be 'fail-fast' or 'continue', got ${describeValue(raw.failure)}`);
  }

  // timeouts
  const timeout = checkTimeout(raw.timeout, 'timeout', PIPELINE_DEFAULTS.timeout, err);
  const stepTimeout = checkTimeout(raw.stepTimeout, 'stepTimeout', PIPELINE_DEFAULTS.stepTimeout, err);

  // prices
  let prices: Record<string, number> | undefined;
  if (raw.prices !== undefined) {
    if (!isPlainObject(raw.prices)) {
      err('prices', `must be a mapping of model to USD per second, got ${describeType(raw.prices)}`);
    } else {
      prices = {};
      for (const [model, price] of Object.entries(raw.prices)) {
        if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
          err(
            `prices.${model}`,
            `must be a non-negative number (USD per second), got ${describeValue(price)}`,
          );
        } else {
          prices[model] = price;
        }
      }
    }
  }

  // steps
  const steps: Record<string, StepSpec> = {};
  const rawSteps = raw.steps;
  if (rawSteps === undefined || rawSteps === null) {
    err('steps', 'missing; a pipeline needs at least one step');
  } else if (!isPlainObject(rawSteps)) {
    err('steps', `must be a mapping of step names to steps, got ${describeType(rawSteps)}`);
  } else if (Object.keys(rawSteps).length === 0) {
    err('steps', 'empty; a pipeline needs at least one step');
  } else {
    const stepNames = Object.keys(rawSteps);
    // First pass: the shape of each step, so references can be checked against all of them.
    for (const [stepName, rawStep] of Object.entries(rawSteps)) {
      const path = `steps.${stepName}`;
      if (!STEP_NAME.test(stepName) || stepName.length > PIPELINE_LIMITS.maxNameLength) {
        err(
          path,
          `'${stepName}' is not a valid step name; use letters, digits, '_' and '-', starting with a letter, at most ${PIPELINE_LIMITS.maxNameLength} characters`,
        );
      }
      const step = checkStepShape(rawStep, path, stepName, stepNames, stepTimeout, err);
      if (step) steps[stepName] = step;
    }
    // Second pass: templates (they look at other steps' shapes), then cycles.
    for (const [stepName, step] of Object.entries(steps)) {
      checkStepTemplates(stepName, step, steps, stepNames, inputs, err);
    }
    for (const e of findCycles(steps)) errors.push(e);
  }

  if (errors.length > 0) return { errors };
  const spec: PipelineSpec = { name: name as string, inputs, failure, timeout, stepTimeout, steps };
  if (typeof raw.description === 'string') spec.description = raw.description;
  if (prices) spec.prices = prices;
  return { spec };
}

/** `validatePipelineSpec`, throwing a PipelineSpecError with every problem (an addition, for callers that throw). */
export function requirePipelineSpec(raw: unknown, inputOverrides?: Record<string, unknown>): PipelineSpec {
  const result = validatePipelineSpec(raw, inputOverrides);
  if ('errors' in result) throw new PipelineSpecError(result.errors);
  return result.spec;
}

type Report = (path: string, message: string) => void;

function checkUnknownFields(
  obj: Record<string, unknown>,
  prefix: string,
  known: readonly string[],
  err: Report,
): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const suggestion = closest(key, known);
    err(
      prefix + key,
      `unknown field '${key}'; expected one of ${known.join(', ')}${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`,
    );
  }
}

function checkTimeout(value: unknown, path: string, fallback: string, err: Report): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') {
    err(path, `must be a duration such as 5m or 1h30m, got ${describeValue(value)}`);
    return fallback;
  }
  const d = parseDuration(value);
  if ('error' in d) {
    err(path, d.error);
  } else if (d.ms < PIPELINE_LIMITS.minTimeoutMs || d.ms > PIPELINE_LIMITS.maxTimeoutMs) {
    err(path, `"${value}" is out of range; a timeout is from 10s to 24h`);
  }
  return value;
}

/** The step's own fields (everything but templates); undefined when it is not a mapping at all. */
function checkStepShape(
  rawStep: unknown,
  path: string,
  stepName: string,
  stepNames: string[],
  stepTimeout: string,
  err: Report,
): StepSpec | undefined {
  if (!isPlainObject(rawStep)) {
    err(path, `must be a mapping with model (or deployment) and input, got ${describeType(rawStep)}`);
    return undefined;
  }
  checkUnknownFields(rawStep, `${path}.`, STEP_FIELDS, err);
  const step: StepSpec = { input: {} };

  // model / deployment
  const hasModel = rawStep.model !== undefined;
  const hasDeployment = rawStep.deployment !== undefined;
  if (hasModel && hasDeployment) {
    err(`${path}.deployment`, 'give either model or deployment, not both');
  } else if (!hasModel && !hasDeployment) {
    err(path, 'missing model; give model: owner/name (or deployment: owner/name)');
  } else {
    const field = hasModel ? 'model' : 'deployment';
    const target = parseModelRef(rawStep[field], !hasModel);
    if (!isCreateTarget(target)) err(`${path}.${field}`, target.error.replace(/^model: /, ''));
    else step[field] = rawStep[field] as string;
  }

  // input
  if (rawStep.input !== undefined && rawStep.input !== null) {
    if (!isPlainObject(rawStep.input)) {
      err(
        `${path}.input`,
        `must be a mapping of the model's input fields, got ${describeType(rawStep.input)}`,
      );
    } else {
      step.input = cloneData(rawStep.input) as Record<string, unknown>;
      const size = new TextEncoder().encode(JSON.stringify(rawStep.input)).length;
      if (size > MAX_INPUT_BYTES) {
        err(
          `${path}.input`,
          `${size} bytes of JSON is over the ${MAX_INPUT_BYTES}-byte limit; pass large files as URLs`,
        );
      }
    }
  }

  // count / foreach
  if (rawStep.count !== undefined) {
    const c = rawStep.count;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > PIPELINE_LIMITS.maxCount) {
      err(
        `${path}.count`,
        `must be a whole number from 1 to ${PIPELINE_LIMITS.maxCount}, got ${describeValue(c)}`,
      );
    } else if (rawStep.foreach !== undefined) {
      err(`${path}.count`, 'count and foreach cannot be combined; use one of them to fan out a step');
    } else {
      step.count = c;
    }
  }
  if (rawStep.foreach !== undefined) {
    if (typeof rawStep.foreach !== 'string') {
      err(
        `${path}.foreach`,
        `must be one template such as "{{ steps.generate.outputs }}", got ${describeType(rawStep.foreach)}`,
      );
    } else {
      step.foreach = rawStep.foreach;
    }
  }

  // timeout
  step.timeout = checkTimeout(rawStep.timeout, `${path}.timeout`, stepTimeout, err);

  // needs
  if (rawStep.needs !== undefined) {
    if (!Array.isArray(rawStep.needs) || rawStep.needs.some((n) => typeof n !== 'string')) {
      err(`${path}.needs`, `must be a list of step names, got ${describeValue(rawStep.needs)}`);
    } else {
      const needs = rawStep.needs as string[];
      for (const n of needs) {
        if (n === stepName) err(`${path}.needs`, `a step cannot need itself ('${n}')`);
        else if (!stepNames.includes(n)) err(`${path}.needs`, unknownStep(n, stepNames));
      }
      step.needs = [...needs];
    }
  }

  // polling
  const p = rawStep.polling;
  if (p !== undefined) {
    if (!isPlainObject(p)) {
      err(`${path}.polling`, 'must be a mapping {initialIntervalMs, multiplier, maxIntervalMs}');
    } else {
      checkUnknownFields(p, `${path}.polling.`, POLLING_FIELDS, err);
      const checks = [
        checkRange(p.initialIntervalMs, `${path}.polling.initialIntervalMs`, 100, ONE_HOUR_MS, err),
        checkRange(p.multiplier, `${path}.polling.multiplier`, 1, 10, err),
        checkRange(p.maxIntervalMs, `${path}.polling.maxIntervalMs`, 100, ONE_HOUR_MS, err),
      ];
      const ok = checks.every(Boolean);
      if (
        typeof p.initialIntervalMs === 'number' &&
        typeof p.maxIntervalMs === 'number' &&
        p.maxIntervalMs < p.initialIntervalMs
      ) {
        err(`${path}.polling.maxIntervalMs`, 'must be at least polling.initialIntervalMs');
      } else if (ok) {
        step.polling = {};
        for (const f of POLLING_FIELDS) if (typeof p[f] === 'number') step.polling[f] = p[f];
      }
    }
  }
  return step;
}

function checkRange(value: unknown, path: string, min: number, max: number, err: Report): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    err(path, `must be a number from ${min} to ${max}, got ${describeValue(value)}`);
    return false;
  }
  return true;
}

/** What validation knows about a reference's value before the run. */
type StaticValue =
  { known: true; value: unknown } | { known: false; shape: 'list' | 'number' | 'any'; desc: string };

/** Check the references of a step's foreach and input; report each problem at the field's path. */
function checkStepTemplates(
  stepName: string,
  step: StepSpec,
  steps: Record<string, StepSpec>,
  stepNames: string[],
  inputs: Record<string, unknown>,
  err: Report,
): void {
  const staticValue = (ref: Ref, inForeach: boolean): StaticValue | { error: string } => {
    switch (ref.root) {
      case 'inputs':
        if (!Object.hasOwn(inputs, ref.name)) return { error: unknownInput(ref.name) };
        return staticWalk({ known: true, value: inputs[ref.name] }, ref.rest, `inputs.${ref.name}`);
      case 'steps': {
        if (ref.step === stepName) {
          return { error: `step '${stepName}' cannot reference itself (${refText(ref)})` };
        }
        if (!stepNames.includes(ref.step)) return { error: unknownStep(ref.step, stepNames) };
        const other = Object.hasOwn(steps, ref.step) ? steps[ref.step] : undefined;
        const desc = `steps.${ref.step}.${ref.field}`;
        if (other === undefined) return { known: false, shape: 'any', desc }; // reported at that step
        if (ref.field === 'input') {
          const k = ref.rest[0];
          if (k && 'key' in k && !Object.hasOwn(other.input, k.key)) {
            return { error: `step '${ref.step}' has no input '${k.key}'` };
          }
          return staticWalk({ known: true, value: other.input }, ref.rest, desc);
        }
        const first = ref.rest[0];
        if (ref.field === 'output' && other.count !== undefined && first && 'index' in first) {
          if (first.index >= other.count) {
            return {
              error: `${desc} has ${other.count} item(s) (count: ${other.count}); [${first.index}] is out of range`,
            };
          }
        }
        const shape = ref.field === 'outputs' || isFannedOut(other) ? 'list' : 'any';
        return staticWalk({ known: false, shape, desc }, ref.rest, desc);
      }
      case 'item':
      case 'index':
        if (inForeach)
          return { error: `'${ref.root}' cannot be used in foreach itself; it is the current element` };
        if (step.foreach === undefined) {
          return { error: `'${ref.root}' is only available in a step with foreach` };
        }
        return staticWalk(
          { known: false, shape: ref.root === 'item' ? 'any' : 'number', desc: ref.root },
          ref.rest,
          ref.root,
        );
    }
  };

  // foreach: exactly one template, resolving to something that can be a list
  if (step.foreach !== undefined) {
    const path = `steps.${stepName}.foreach`;
    const parsed = parseString(step.foreach);
    if ('error' in parsed) {
      err(path, parsed.error);
    } else if (!parsed.exact) {
      err(path, `must be exactly one template such as "{{ steps.generate.outputs }}", got "${step.foreach}"`);
    } else {
      const ref = parsed.exact.ref;
      const v = staticValue(ref, true);
      if ('error' in v) {
        err(path, v.error);
      } else if (
        ref.root === 'steps' &&
        ref.field === 'output' &&
        ref.rest.length === 0 &&
        !isFannedOut(steps[ref.step] ?? { input: {} })
      ) {
        err(
          path,
          `type mismatch: steps.${ref.step}.output is the output of a single prediction, not a list of items; use "{{ steps.${ref.step}.outputs }}" to iterate over its outputs`,
        );
      } else if (v.known) {
        if (!Array.isArray(v.value)) {
          err(path, `type mismatch: ${refText(ref)} is ${describeType(v.value)}; foreach needs a list`);
        } else if (v.value.length > PIPELINE_LIMITS.maxForeachItems) {
          err(
            path,
            `${refText(ref)} has ${v.value.length} items; foreach allows at most ${PIPELINE_LIMITS.maxForeachItems}`,
          );
        }
      } else if (v.shape === 'number') {
        err(path, `type mismatch: ${refText(ref)} is a number; foreach needs a list`);
      }
    }
  }

  // input: every template anywhere in it
  for (const { path, text } of templateStrings(step.input, `steps.${stepName}.input`)) {
    const parsed = parseString(text);
    if ('error' in parsed) {
      err(path, parsed.error);
      continue;
    }
    for (const part of parsed.parts) {
      if (typeof part === 'string') continue;
      const v = staticValue(part.ref, false);
      if ('error' in v) err(path, `${part.text}: ${v.error}`);
    }
  }
}

/** `walk` for validation: follows known values, and the shape of values only known at run time. */
function staticWalk(start: StaticValue, rest: Accessor[], desc: string): StaticValue | { error: string } {
  let v = start;
  let here = desc;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (v.known) {
      if (typeof v.value === 'string' && v.value.includes('{{')) {
        return { known: false, shape: 'any', desc: here };
      }
      const r = walk(v.value, [a], here);
      if ('error' in r) return r;
      v = { known: true, value: r.value };
    } else if (v.shape === 'number' || (v.shape === 'list' && 'key' in a)) {
      const what = v.shape === 'number' ? 'a number' : 'a list';
      const hint = v.shape === 'list' ? '; index a list with [N]' : '';
      const acc = 'key' in a ? `.${a.key}` : `[${a.index}]`;
      return { error: `type mismatch: ${here} is ${what}; cannot take ${acc}${hint}` };
    } else {
      v = { known: false, shape: 'any', desc: here };
    }
    here += 'key' in a ? `.${a.key}` : `[${a.index}]`;
  }
  if (v.known && typeof v.value === 'string' && v.value.includes('{{'))
    return { known: false, shape: 'any', desc };
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function unknownInput(name: string): string {
  return `unknown input '${name}'; declare it under inputs or pass --input ${name}=…`;
}

function unknownStep(name: string, stepNames: string[]): string {
  const suggestion = closest(name, stepNames);
  return `unknown step '${name}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; steps are ${stepNames.join(', ')}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep copy of plain data (objects, arrays, primitives). */
function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = cloneData(v);
    return out;
  }
  return value;
}

function describeType(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json !== undefined && json.length <= 40 ? json : describeType(value);
}

/** The known name closest to `name` (edit distance ≤ 2), for "did you mean" hints. */
function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}
