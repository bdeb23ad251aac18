/**
 * Templates: the `{{ inputs.K }}`, `{{ steps.X.output(s) }}`, `{{ item }}` references that wire a pipeline's steps
 * together, parsed and resolved. The syntax and its typing rules: docs/architecture.md, "Templates".
 */
import { describeType, isPlainObject, unknownInput } from './helpers';
import { PipelineSpecError } from './spec';

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

// ---------------------------------------------------------------------------------------------------------------
// Templates: parsing

export type Accessor = { key: string } | { index: number };

/** A parsed `{{ … }}` expression. */
export type Ref =
  | { root: 'inputs'; name: string; rest: Accessor[] }
  | { root: 'steps'; step: string; field: 'output' | 'outputs' | 'input'; rest: Accessor[] }
  | { root: 'item' | 'index'; rest: Accessor[] };

export interface Template {
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
export function parseString(s: string): ParsedString | { error: string } {
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
export function* templateStrings(value: unknown, path: string): Generator<{ path: string; text: string }> {
  if (typeof value === 'string') {
    if (value.includes('{{') || value.includes('}}')) yield { path, text: value };
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* templateStrings(value[i], `${path}[${i}]`);
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) yield* templateStrings(v, `${path}.${k}`);
  }
}

export function refText(ref: Ref): string {
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
export function walk(value: unknown, rest: Accessor[], desc: string): { value: unknown } | { error: string } {
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
    // own data properties: a `__proto__` key stays a key of the model's input
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveTemplates(v, ctx, `${path}.${k}`)]),
    );
  }
  return value;
}
