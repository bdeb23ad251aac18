// Over 400 lines on purpose: one file per module under test (src/shared/pipeline/), its cases side by side.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPipelineFile, parseInputOverrides } from '../../src/client/pipeline-file';
import {
  estimateCost,
  expandStep,
  flattenOutputs,
  PipelineSpecError,
  progressSnapshot,
  resolveTemplates,
  stepDependencies,
  stepInputProblem,
  stepResultView,
  topologicalOrder,
  validatePipelineSpec,
  type PipelineSpec,
  type SpecError,
  type TemplateContext,
} from '../../src/shared/pipeline';

const V = 'a'.repeat(64);

/** The example. */
const POSTER = {
  name: 'poster',
  inputs: { prompt: 'a lighthouse at dusk' },
  failure: 'fail-fast',
  steps: {
    generate: {
      model: 'google/imagen-4-ultra',
      count: 2,
      input: { prompt: '{{ inputs.prompt }}' },
    },
    upscale: {
      model: 'nightmareai/real-esrgan',
      foreach: '{{ steps.generate.outputs }}',
      input: { image: '{{ item }}', scale: 2 },
      timeout: '5m',
    },
  },
};

function valid(raw: unknown, overrides?: Record<string, unknown>): PipelineSpec {
  const r = validatePipelineSpec(raw, overrides);
  if ('errors' in r) throw new PipelineSpecError(r.errors);
  return r.spec;
}

function errorsOf(raw: unknown, overrides?: Record<string, unknown>): SpecError[] {
  const r = validatePipelineSpec(raw, overrides);
  if ('spec' in r) throw new Error('expected the spec to be rejected');
  return r.errors;
}

/** A minimal pipeline with the given steps. */
function withSteps(
  steps: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name: 'p', ...extra, steps };
}

const m = (input: Record<string, unknown> = {}, more: Record<string, unknown> = {}) => ({
  model: 'acme/model',
  input,
  ...more,
});

describe('validatePipelineSpec', () => {
  it("accepts the issue's example, applies defaults and orders generate before upscale", () => {
    const spec = valid(POSTER);
    expect(spec.failure).toBe('fail-fast');
    expect(spec.timeout).toBe('30m');
    expect(spec.stepTimeout).toBe('10m');
    expect(spec.steps.generate!.timeout).toBe('10m');
    expect(spec.steps.upscale!.timeout).toBe('5m');
    expect(spec.steps.generate!.count).toBe(2);
    expect(topologicalOrder(spec)).toEqual(['generate', 'upscale']);
    expect(stepDependencies(spec)).toEqual({ generate: [], upscale: ['generate'] });
  });

  it('defaults inputs and failure, and merges input overrides over defaults', () => {
    const spec = valid(
      withSteps({ a: m({ p: '{{ inputs.p }}', q: '{{ inputs.q }}' }) }, { inputs: { p: 'x' } }),
      {
        p: 'y',
        q: '3',
      },
    );
    expect(spec.inputs).toEqual({ p: 'y', q: '3' });
    expect(spec.failure).toBe('fail-fast');
    expect(valid(withSteps({ a: m() })).inputs).toEqual({});
  });

  it('accepts deployments, versions, needs, polling, prices and a pipeline-wide step timeout', () => {
    const spec = valid({
      name: 'full-1',
      description: 'everything at once',
      failure: 'continue',
      timeout: '1h',
      stepTimeout: '2m',
      prices: { 'acme/model': 0.001 },
      steps: {
        a: { deployment: 'acme/prod', input: {} },
        b: { model: `acme/model:${V}`, input: { k: 1 }, needs: ['a'], polling: { initialIntervalMs: 500 } },
        c: { model: V, input: { x: '{{ steps.b.input.k }}' }, timeout: '30s' },
      },
    });
    expect(spec.failure).toBe('continue');
    expect(spec.prices).toEqual({ 'acme/model': 0.001 });
    expect(spec.steps.a).toEqual({ deployment: 'acme/prod', input: {}, timeout: '2m' });
    expect(spec.steps.b!.polling).toEqual({ initialIntervalMs: 500 });
    expect(spec.steps.c!.timeout).toBe('30s');
    expect(stepDependencies(spec)).toEqual({ a: [], b: ['a'], c: ['b'] });
  });
});

describe('validation errors', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    [
      'a cycle a -> b -> a',
      withSteps({ a: m({ x: '{{ steps.b.output }}' }), b: m({}, { needs: ['a'] }) }),
      'steps.a.input.x',
      'dependency cycle: a -> b -> a',
    ],
    [
      'a cycle through needs',
      withSteps({ a: m({}, { needs: ['b'] }), b: m({}, { needs: ['a'] }) }),
      'steps.a.needs',
      'a -> b -> a',
    ],
    [
      'an unknown step',
      withSteps({ a: m({ x: '{{ steps.nope.output }}' }) }),
      'steps.a.input.x',
      "unknown step 'nope'",
    ],
    [
      'an unknown input',
      withSteps({ a: m({ x: 'say {{ inputs.x }}' }) }),
      'steps.a.input.x',
      "unknown input 'x'; declare it under inputs or pass --input x=",
    ],
    [
      'an unknown step field',
      withSteps({ generate: { modle: 'acme/model', model: 'acme/model', input: {} } }),
      'steps.generate.modle',
      "unknown field 'modle'; expected one of model, deployment, input",
    ],
    ['an unknown top-level field', { ...POSTER, stepz: {} }, 'stepz', "unknown field 'stepz'"],
    [
      'count together with foreach',
      withSteps({ a: m(), b: m({}, { count: 2, foreach: '{{ steps.a.outputs }}' }) }),
      'steps.b.count',
      'count and foreach cannot be combined',
    ],
    [
      'count out of range',
      withSteps({ a: m({}, { count: 51 }) }),
      'steps.a.count',
      'must be a whole number from 1 to 50',
    ],
    [
      'foreach over a string input',
      withSteps({ a: m({}, { foreach: '{{ inputs.x }}' }) }, { inputs: { x: 'one' } }),
      'steps.a.foreach',
      'type mismatch: inputs.x is a string; foreach needs a list',
    ],
    [
      'foreach over the output of a single prediction',
      withSteps({ a: m(), b: m({}, { foreach: '{{ steps.a.output }}' }) }),
      'steps.b.foreach',
      '{{ steps.a.outputs }}',
    ],
    [
      'foreach with more than one template',
      withSteps({ a: m(), b: m({}, { foreach: 'x {{ steps.a.outputs }}' }) }),
      'steps.b.foreach',
      'must be exactly one template',
    ],
    [
      'item outside a foreach step',
      withSteps({ a: m({ image: '{{ item }}' }) }),
      'steps.a.input.image',
      "'item' is only available in a step with foreach",
    ],
    [
      'index in a count step',
      withSteps({ a: m({ seed: '{{ index }}' }, { count: 3 }) }),
      'steps.a.input.seed',
      "'index' is only available in a step with foreach",
    ],
    [
      'a bad model ref',
      withSteps({ a: { model: 'imagen', input: {} } }),
      'steps.a.model',
      '"imagen" is not a model reference',
    ],
    [
      'a deployment with a version',
      withSteps({ a: { deployment: `acme/prod:${V}`, input: {} } }),
      'steps.a.deployment',
      'is not a deployment name',
    ],
    [
      'an unparseable step timeout',
      withSteps({ a: m({}, { timeout: '5 minutes' }) }),
      'steps.a.timeout',
      'is not a duration',
    ],
    [
      'a pipeline timeout out of range',
      withSteps({ a: m() }, { timeout: '2d' }),
      'timeout',
      'is not a duration',
    ],
    [
      'a step timeout too short',
      withSteps({ a: m({}, { timeout: '5s' }) }),
      'steps.a.timeout',
      'from 10s to 24h',
    ],
    [
      'a bad failure value',
      withSteps({ a: m() }, { failure: 'retry' }),
      'failure',
      "must be 'fail-fast' or 'continue'",
    ],
    [
      'a self reference',
      withSteps({ a: m({ x: '{{ steps.a.outputs }}' }) }),
      'steps.a.input.x',
      "step 'a' cannot reference itself",
    ],
    ['an empty template', withSteps({ a: m({ x: '{{ }}' }) }), 'steps.a.input.x', 'empty template'],
    [
      'an unclosed template',
      withSteps({ a: m({ x: 'a {{ inputs.p' }) }, { inputs: { p: 1 } }),
      'steps.a.input.x',
      "unbalanced braces: '{{' at character 3",
    ],
    [
      'a template missing a brace',
      withSteps({ a: m({ x: 'a { inputs.p }}' }) }, { inputs: { p: 1 } }),
      'steps.a.input.x',
      'unbalanced braces',
    ],
    [
      'an unknown template root',
      withSteps({ a: m({ nested: { list: ['ok', '{{ foo.bar }}'] } }) }),
      'steps.a.input.nested.list[1]',
      "unknown reference root 'foo'",
    ],
    [
      'needs naming an unknown step',
      withSteps({ a: m({}, { needs: ['nope'] }) }),
      'steps.a.needs',
      "unknown step 'nope'",
    ],
    [
      'both model and deployment',
      withSteps({ a: { model: 'acme/m', deployment: 'acme/d', input: {} } }),
      'steps.a.deployment',
      'either model or deployment, not both',
    ],
    ['neither model nor deployment', withSteps({ a: { input: {} } }), 'steps.a', 'missing model'],
    ['empty steps', withSteps({}), 'steps', 'at least one step'],
    ['missing steps', { name: 'p' }, 'steps', 'at least one step'],
    ['a bad pipeline name', withSteps({ a: m() }, { name: 'My Pipeline' }), 'name', 'is not a valid name'],
    ['a bad step name', withSteps({ '1st': m() }), 'steps.1st', 'is not a valid step name'],
    [
      'a step input that is not an object',
      withSteps({ a: m(), b: { model: 'a/b', input: 'x' } }),
      'steps.b.input',
      'must be a mapping',
    ],
    [
      'a negative price',
      withSteps({ a: m() }, { prices: { 'acme/model': -1 } }),
      'prices.acme/model',
      'must be a non-negative number',
    ],
    [
      'a missing input field of another step',
      withSteps({ a: m({ prompt: 'x' }), b: m({ p: '{{ steps.a.input.promt }}' }) }),
      'steps.b.input.p',
      "step 'a' has no input 'promt'",
    ],
    [
      'a field accessor on a list',
      withSteps({ a: m(), b: m({ p: '{{ steps.a.outputs.url }}' }) }),
      'steps.b.input.p',
      'steps.a.outputs is a list; cannot take .url; index a list with [N]',
    ],
    [
      'an index past a count fan-out',
      withSteps({ a: m({}, { count: 2 }), b: m({ p: '{{ steps.a.output[2] }}' }) }),
      'steps.b.input.p',
      '[2] is out of range',
    ],
    [
      'an unknown polling field',
      withSteps({ a: m({}, { polling: { interval: 5 } }) }),
      'steps.a.polling.interval',
      "unknown field 'interval'",
    ],
  ];

  it.each(cases)('rejects %s', (_label, raw, path, fragment) => {
    const errors = errorsOf(raw);
    expect(errors).toContainEqual({ path, message: expect.stringContaining(fragment) });
  });

  it('reports every problem at once, and PipelineSpecError lists them one per line', () => {
    const errors = errorsOf({
      name: 'p',
      failure: 'nope',
      steps: { a: { model: 'bad', input: { x: '{{ inputs.missing }}' }, count: 0 } },
    });
    expect(errors.map((e) => e.path)).toEqual([
      'failure',
      'steps.a.model',
      'steps.a.count',
      'steps.a.input.x',
    ]);
    const error = new PipelineSpecError(errors);
    expect(error.message.split('\n')).toHaveLength(4);
    expect(error.message).toMatch(/^failure: must be/);
  });

  it('suggests the nearest field name', () => {
    const [e] = errorsOf(withSteps({ a: { modle: 'acme/m', model: 'acme/m', input: {} } }));
    expect(e!.message).toContain("(did you mean 'model'?)");
  });

  it('checks input references against overrides too', () => {
    const raw = withSteps({ a: m({}, { foreach: '{{ inputs.xs }}' }) }, { inputs: { xs: ['a'] } });
    expect(valid(raw).inputs).toEqual({ xs: ['a'] });
    expect(errorsOf(raw, { xs: 'not a list' })[0]).toMatchObject({
      path: 'steps.a.foreach',
      message: expect.stringContaining('type mismatch'),
    });
    // an input only given as an override is known
    expect(valid(withSteps({ a: m({ p: '{{ inputs.extra }}' }) }), { extra: 1 }).inputs).toEqual({
      extra: 1,
    });
  });

  it('rejects a non-object spec', () => {
    expect(errorsOf(null as unknown as Record<string, unknown>)).toEqual([
      { path: '(spec)', message: expect.stringContaining('must be a mapping') },
    ]);
  });
});

describe('resolveTemplates', () => {
  const ctx: TemplateContext = {
    inputs: { n: 3, opts: { a: 1 }, tags: ['x', 'y'], s: 'fox', flag: true },
    steps: {
      gen: { output: ['u1', 'u2'], outputs: ['u1', 'u2'], input: { prompt: 'p', seed: 7 } },
      cap: { output: { text: 'hi' }, outputs: [{ text: 'hi' }], input: {} },
    },
  };

  it('keeps the type of an exact template', () => {
    expect(resolveTemplates('{{ inputs.n }}', ctx, 'x')).toBe(3);
    expect(resolveTemplates('{{inputs.opts}}', ctx, 'x')).toEqual({ a: 1 });
    expect(resolveTemplates('  {{ inputs.tags }} ', ctx, 'x')).toEqual(['x', 'y']);
    expect(resolveTemplates('{{ steps.gen.output[1] }}', ctx, 'x')).toBe('u2');
    expect(resolveTemplates('{{ steps.gen.input.seed }}', ctx, 'x')).toBe(7);
    expect(resolveTemplates('{{ steps.cap.output.text }}', ctx, 'x')).toBe('hi');
    expect(resolveTemplates('{{ inputs.flag }}', ctx, 'x')).toBe(true);
  });

  it('interpolates inside a larger string', () => {
    expect(resolveTemplates('{{ inputs.s }} x{{ inputs.n }} {{ inputs.flag }}', ctx, 'x')).toBe(
      'fox x3 true',
    );
    expect(resolveTemplates('o={{ inputs.opts }} t={{ inputs.tags }}', ctx, 'x')).toBe(
      'o={"a":1} t=["x","y"]',
    );
  });

  it('resolves deep, leaves other values alone and does not re-scan resolved values', () => {
    const c: TemplateContext = { ...ctx, inputs: { ...ctx.inputs, raw: '{{ inputs.n }}' } };
    expect(
      resolveTemplates(
        { a: ['{{ inputs.n }}', { b: '{{ inputs.raw }}' }], c: 2, d: null, e: 'plain' },
        c,
        'in',
      ),
    ).toEqual({ a: [3, { b: '{{ inputs.n }}' }], c: 2, d: null, e: 'plain' });
  });

  it('throws PipelineSpecError with the path at run time', () => {
    const attempt = (value: unknown, c: TemplateContext = ctx): SpecError => {
      try {
        resolveTemplates(value, c, 'steps.b.input');
      } catch (error) {
        expect(error).toBeInstanceOf(PipelineSpecError);
        return (error as PipelineSpecError).errors[0]!;
      }
      throw new Error('expected a throw');
    };
    expect(attempt({ img: ['{{ steps.gen.output[5] }}'] })).toEqual({
      path: 'steps.b.input.img[0]',
      message: expect.stringContaining('[5] is out of range'),
    });
    expect(attempt({ x: '{{ steps.later.output }}' }).message).toContain("step 'later' has no result");
    expect(attempt({ x: '{{ inputs.s.field }}' }).message).toContain('type mismatch: inputs.s is a string');
    expect(attempt({ x: '{{ item }}' }).message).toContain('only available in a step with foreach');
    expect(attempt({ x: '{{ steps.gen.input.nope }}' }).message).toContain("step 'gen' has no input 'nope'");
    expect(attempt({ x: '{{ bad' })).toMatchObject({ path: 'steps.b.input.x' });
  });
});

describe('fan-out', () => {
  const ctxAfterGenerate = (outputs: unknown[]): TemplateContext => ({
    inputs: { prompt: 'a lighthouse' },
    steps: {
      generate: stepResultView(
        { input: {}, count: outputs.length },
        outputs.map((output) => ({ input: { prompt: 'a lighthouse' }, output })),
      ),
    },
  });

  it('count gives N identical runs', () => {
    const spec = valid(POSTER);
    const runs = expandStep(spec, 'generate', { inputs: spec.inputs, steps: {} });
    expect(runs).toEqual([
      { index: 0, input: { prompt: 'a lighthouse at dusk' } },
      { index: 1, input: { prompt: 'a lighthouse at dusk' } },
    ]);
  });

  it('foreach gives one run per item of the flattened outputs, with item and index', () => {
    const spec = valid(POSTER);
    const ctx = ctxAfterGenerate([['a.png', 'b.png'], ['c.png']]);
    expect(ctx.steps.generate!.output).toEqual([['a.png', 'b.png'], ['c.png']]);
    expect(ctx.steps.generate!.outputs).toEqual(['a.png', 'b.png', 'c.png']);
    const runs = expandStep(spec, 'upscale', ctx);
    expect(runs).toEqual([
      { index: 0, item: 'a.png', input: { image: 'a.png', scale: 2 } },
      { index: 1, item: 'b.png', input: { image: 'b.png', scale: 2 } },
      { index: 2, item: 'c.png', input: { image: 'c.png', scale: 2 } },
    ]);
  });

  it('foreach over object items and inputs, with index', () => {
    const spec = valid(
      withSteps(
        {
          a: m(
            { prompt: '{{ item.subject }} #{{ index }}', seed: '{{ index }}' },
            { foreach: '{{ inputs.items }}' },
          ),
        },
        { inputs: { items: [{ subject: 'fox' }, { subject: 'owl' }] } },
      ),
    );
    expect(expandStep(spec, 'a', { inputs: spec.inputs, steps: {} }).map((r) => r.input)).toEqual([
      { prompt: 'fox #0', seed: 0 },
      { prompt: 'owl #1', seed: 1 },
    ]);
  });

  it('a plain step runs once; foreach over a non-list or too many items throws at run time', () => {
    const spec = valid(withSteps({ a: m({ p: 1 }), b: m({}, { foreach: '{{ steps.a.output.images }}' }) }));
    expect(expandStep(spec, 'a', { inputs: {}, steps: {} })).toEqual([{ index: 0, input: { p: 1 } }]);
    const view = (output: unknown) => ({ a: { output, outputs: flattenOutputs([output]), input: {} } });
    expect(() => expandStep(spec, 'b', { inputs: {}, steps: view({ images: 'one' }) })).toThrow(
      /steps\.b\.foreach: type mismatch: .* is a string; foreach needs a list/,
    );
    expect(() =>
      expandStep(spec, 'b', {
        inputs: {},
        steps: view({ images: Array.from({ length: 101 }, (_, i) => i) }),
      }),
    ).toThrow(/101 items; foreach allows at most 100/);
    expect(expandStep(spec, 'b', { inputs: {}, steps: view({ images: [] }) })).toEqual([]);
  });
});

describe('outputs, dependencies, cost', () => {
  it('flattens outputs one level per prediction and drops null/undefined', () => {
    expect(
      flattenOutputs([['a.png', 'b.png'], ['c.png'], 'd.png', null, undefined, [null, ['e', 'f']]]),
    ).toEqual(['a.png', 'b.png', 'c.png', 'd.png', ['e', 'f']]);
    expect(stepResultView({ input: {} }, [{ input: { p: 1 }, output: ['x', 'y'] }])).toEqual({
      output: ['x', 'y'],
      outputs: ['x', 'y'],
      input: { p: 1 },
    });
  });

  it('extracts dependencies from input, foreach and needs; independent steps are both roots', () => {
    const spec = valid(
      withSteps(
        {
          left: m({ prompt: '{{ inputs.p }}' }),
          right: m({ prompt: '{{ inputs.p }}' }),
          merge: m({ a: '{{ steps.left.outputs[0] }}', b: ['{{ steps.right.output }}'] }),
          after: m({}, { needs: ['merge', 'left'], foreach: '{{ steps.right.outputs }}' }),
        },
        { inputs: { p: 'x' } },
      ),
    );
    const deps = stepDependencies(spec);
    expect(deps).toEqual({
      left: [],
      right: [],
      merge: ['left', 'right'],
      after: ['left', 'right', 'merge'],
    });
    const roots = Object.keys(deps).filter((n) => deps[n]!.length === 0);
    expect(roots).toEqual(['left', 'right']);
    expect(topologicalOrder(spec)).toEqual(['left', 'right', 'merge', 'after']);
  });

  it('orders by dependencies, ties by declaration order', () => {
    const spec = valid(
      withSteps({ c: m({ x: '{{ steps.b.output }}' }), a: m(), b: m({}, { needs: ['a'] }) }),
    );
    expect(topologicalOrder(spec)).toEqual(['a', 'b', 'c']);
  });

  it('estimates cost from the price of the model', () => {
    const prices = { 'acme/model': 0.002 };
    expect(estimateCost(prices, 'acme/model', 10)).toBeCloseTo(0.02);
    expect(estimateCost(prices, `acme/model:${V}`, 5)).toBeCloseTo(0.01);
    expect(estimateCost(prices, 'other/model', 10)).toBeUndefined();
    expect(estimateCost(undefined, 'acme/model', 10)).toBeUndefined();
  });
});

describe('pipeline files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const POSTER_YAML = `name: poster
inputs: { prompt: "a lighthouse at dusk" }
failure: fail-fast
steps:
  generate:
    model: google/imagen-4-ultra
    count: 2
    input: { prompt: "{{ inputs.prompt }}" }
  upscale:
    model: nightmareai/real-esrgan
    foreach: "{{ steps.generate.outputs }}"
    input: { image: "{{ item }}", scale: 2 }
    timeout: 5m
`;

  it('loads YAML with overrides', () => {
    const spec = loadPipelineFile(
      file('poster.yaml', POSTER_YAML),
      parseInputOverrides(['prompt=a red fox']),
    );
    expect(spec.inputs).toEqual({ prompt: 'a red fox' });
    expect(topologicalOrder(spec)).toEqual(['generate', 'upscale']);
    expect(expandStep(spec, 'generate', { inputs: spec.inputs, steps: {} })[0]!.input).toEqual({
      prompt: 'a red fox',
    });
  });

  it('loads JSON, and reads JSON with another extension as YAML', () => {
    const json = JSON.stringify(POSTER);
    expect(loadPipelineFile(file('poster.json', json)).name).toBe('poster');
    expect(loadPipelineFile(file('poster.pipeline', json)).name).toBe('poster');
  });

  it('reports a YAML syntax error with line and column at (file)', () => {
    const path = file('broken.yaml', 'name: p\nsteps:\n  a:\n    model: acme/m\n    input: { prompt: "x"\n');
    let error: unknown;
    try {
      loadPipelineFile(path);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PipelineSpecError);
    const [first] = (error as PipelineSpecError).errors;
    expect(first!.path).toBe('(file)');
    expect(first!.message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
  });

  it('reports a JSON syntax error with line and column, and validation errors together', () => {
    expect(() => loadPipelineFile(file('bad.json', '{"name": "p",\n "steps" {}}'))).toThrow(
      /\(file\): JSON syntax error (at|near) line 2, column \d+/,
    );
    const invalid = file('invalid.yml', 'name: p\nfailure: maybe\nsteps: {}\n');
    expect(() => loadPipelineFile(invalid)).toThrow(
      /failure: must be 'fail-fast' or 'continue'[^]*steps: empty/,
    );
    expect(() => loadPipelineFile(join(dir, 'missing.yaml'))).toThrow(/\(file\): cannot read/);
  });

  it('parses --input pairs, JSON when it parses', () => {
    expect(
      parseInputOverrides(['n=3', 'tags=["a","b"]', 'quoted="3"', 'prompt=a red fox', 'eq=a=b', 'empty=']),
    ).toEqual({ n: 3, tags: ['a', 'b'], quoted: '3', prompt: 'a red fox', eq: 'a=b', empty: '' });
    expect(() => parseInputOverrides(['ok=1', 'novalue', '=x'])).toThrow(
      /--input: "novalue" has no '='[^]*--input: "=x" has an empty key/,
    );
  });
});

describe('progress query', () => {
  it('answers a computed copy with the elapsed time of running steps, and leaves the workflow state alone', () => {
    const state = {
      pipelineId: 'p',
      steps: {
        a: { status: 'succeeded', startedAt: '2026-01-01T00:00:00.000Z', elapsedMs: 1_000 },
        b: { status: 'running', startedAt: '2026-01-01T00:00:01.000Z', elapsedMs: null },
        c: { status: 'pending', startedAt: null, elapsedMs: null },
      },
    };
    const before = JSON.stringify(state);
    const view = progressSnapshot(state, Date.parse('2026-01-01T00:00:04.500Z'));
    expect(view.steps.b.elapsedMs).toBe(3_500);
    expect(view.steps.a.elapsedMs).toBe(1_000);
    expect(view.steps.c.elapsedMs).toBeNull();
    expect(JSON.stringify(state)).toBe(before); // a query must not write workflow state
    expect(view).not.toBe(state);
  });
});

describe('step input size', () => {
  it('names the step, the prediction and the size when an input or a whole step is over the limit', () => {
    const big = 'x'.repeat(600_000);
    expect(stepInputProblem('four', [{ index: 0, input: { t: big.repeat(4) } }])).toBe(
      `step four: its input is ${2_400_008} bytes of JSON, over the 1000000-byte limit (Temporal payloads are limited to 2 MB); pass large data as URLs`,
    );
    expect(
      stepInputProblem(
        'fan',
        [0, 1].map((index) => ({ index, input: { t: index ? big.repeat(2) : 'ok' } })),
      ),
    ).toContain('step fan: its input [1] is 1200008 bytes');
    const six = Array.from({ length: 6 }, (_, index) => ({ index, input: { t: big } }));
    expect(stepInputProblem('six', six)).toContain('its 6 inputs are 3600048 bytes of JSON together');
    expect(stepInputProblem('ok', six.slice(0, 4))).toBeNull();
  });
});
