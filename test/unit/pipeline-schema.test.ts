/**
 * The JSON Schema shipped for pipeline specs (schemas/pipeline.schema.json, for editors) against the validation
 * the runner does (src/shared/pipeline/validate.ts): the schema accepts every spec validation accepts (the examples
 * and the specs the tests run), and rejects every spec validation rejects for its shape. What needs more than the
 * shape (templates, references, cycles, duration ranges, a price per budgeted model) only validation catches, with
 * its did-you-mean messages.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { validatePipelineSpec } from '../../src/shared/pipeline';

const schema = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'schemas', 'pipeline.schema.json'), 'utf8'));
const check = new Ajv({ allErrors: true }).compile(schema);
const schemaAccepts = (spec: unknown) => check(spec) === true;
const validationErrors = (spec: unknown) => {
  const result = validatePipelineSpec(spec);
  return 'errors' in result ? result.errors.map((e) => `${e.path}: ${e.message}`) : [];
};

const V = 'a'.repeat(64);
const step = (more: Record<string, unknown> = {}) => ({ model: 'acme/model', input: {}, ...more });
const pipeline = (steps: Record<string, unknown>, more: Record<string, unknown> = {}) => ({
  name: 'p',
  ...more,
  steps,
});

const EXAMPLES = readdirSync(path.join(PROJECT_ROOT, 'examples'))
  .filter((file) => /\.ya?ml$/.test(file))
  .map((file) => [file, readFileSync(path.join(PROJECT_ROOT, 'examples', file), 'utf8')] as const);

/** Valid specs as the tests run them (integration tests' one-step specs, fan-out, every field at once). */
const VALID: [string, unknown][] = [
  ['one step', parse('name: echo\nsteps:\n  only:\n    model: sim/echo\n    input: { prompt: hi }\n')],
  ['no input', pipeline({ only: { model: 'sim/never' } })],
  ['null inputs and input', pipeline({ a: { model: 'acme/m', input: null } }, { inputs: null })],
  [
    'every field',
    {
      name: 'full-1',
      description: 'everything at once',
      inputs: { prompt: 'x', styles: ['a', 'b'] },
      failure: 'continue',
      timeout: '1h30m',
      stepTimeout: '2m',
      prices: { 'acme/model': 0.001, 'acme/prod': 0.002, [`acme/model:${V}`]: 0.25, [V]: 0.5 },
      budget: { usd: 1.5 },
      steps: {
        a: { deployment: 'acme/prod', input: {} },
        b: step({ model: `acme/model:${V}`, needs: ['a'], count: 3, polling: { initialIntervalMs: 500 } }),
        c: step({ model: V, foreach: '{{ inputs.styles }}', input: { s: '{{ item }}', i: '{{ index }}' } }),
        d_1: step({ input: { x: '{{ steps.b.outputs[0] }}' }, timeout: '30s' }),
        'e-2': step({ polling: { initialIntervalMs: 100, multiplier: 1.5, maxIntervalMs: 3_600_000 } }),
        f: step({ cache: true, needs: ['g'] }),
        g: { approve: { message: 'look at the drafts', timeout: '48h', onTimeout: 'approve' }, needs: ['b'] },
      },
      cache: false,
    },
  ],
  ['an approval with only a message', pipeline({ ok: { approve: { message: 'go?' } } })],
];

/** Specs validation rejects for their shape: the schema rejects them too. [case, spec, validation says] */
const STRUCTURAL: [string, unknown, string][] = [
  ['not a mapping', ['steps'], '(spec): must be a mapping'],
  ['no name', { steps: { a: step() } }, "name: missing; give the pipeline a name such as 'poster'"],
  ['a name with capitals', pipeline({ a: step() }, { name: 'Poster' }), 'is not a valid name'],
  ['a name over 60 characters', pipeline({ a: step() }, { name: 'p'.repeat(61) }), 'at most 60'],
  ['no steps', { name: 'p' }, 'steps: missing'],
  ['no step at all', pipeline({}), 'steps: empty'],
  ['steps as a list', { name: 'p', steps: [step()] }, 'steps: must be a mapping'],
  ['a step name with a dot', pipeline({ 'a.b': step() }), 'is not a valid step name'],
  ['an unknown top-level field', pipeline({ a: step() }, { stpes: {} }), "(did you mean 'steps'?)"],
  ['an unknown step field', pipeline({ a: { modle: 'acme/m', input: {} } }), "(did you mean 'model'?)"],
  ['a step that is not a mapping', pipeline({ a: 'acme/model' }), 'steps.a: must be a mapping'],
  ['neither model nor deployment', pipeline({ a: { input: {} } }), 'steps.a: missing model'],
  [
    'both model and deployment',
    pipeline({ a: { model: 'acme/m', deployment: 'acme/d', input: {} } }),
    'give either model or deployment',
  ],
  ['a model without an owner', pipeline({ a: step({ model: 'imagen' }) }), 'is not a model reference'],
  ['a short version', pipeline({ a: step({ model: 'acme/m:abc' }) }), 'malformed version'],
  ['a deployment with a version', pipeline({ a: { deployment: `acme/d:${V}` } }), 'not a deployment name'],
  ['a model that is a number', pipeline({ a: step({ model: 42 }) }), 'must be a string'],
  ['input as a list', pipeline({ a: step({ input: [1] }) }), 'steps.a.input: must be a mapping'],
  ['count 0', pipeline({ a: step({ count: 0 }) }), 'from 1 to 50'],
  ['count 51', pipeline({ a: step({ count: 51 }) }), 'from 1 to 50'],
  ['count 1.5', pipeline({ a: step({ count: 1.5 }) }), 'from 1 to 50'],
  [
    'count with foreach',
    pipeline({ a: step(), b: step({ count: 2, foreach: '{{ steps.a.outputs }}' }) }),
    'count and foreach cannot be combined',
  ],
  ['foreach as a list', pipeline({ a: step({ foreach: ['x'] }) }), 'must be one template'],
  ['failure: stop', pipeline({ a: step() }, { failure: 'stop' }), "must be 'fail-fast' or 'continue'"],
  ['a timeout without a unit', pipeline({ a: step() }, { timeout: '30' }), 'has no unit'],
  ['a timeout as a number', pipeline({ a: step({ timeout: 30 }) }), 'must be a duration'],
  ['stepTimeout in words', pipeline({ a: step() }, { stepTimeout: 'ten minutes' }), 'is not a duration'],
  ['needs as a string', pipeline({ a: step(), b: step({ needs: 'a' }) }), 'must be a list of step names'],
  ['polling as a number', pipeline({ a: step({ polling: 5 }) }), 'must be a mapping {initialIntervalMs'],
  [
    'an unknown polling field',
    pipeline({ a: step({ polling: { intialIntervalMs: 500 } }) }),
    "(did you mean 'initialIntervalMs'?)",
  ],
  ['polling every 50 ms', pipeline({ a: step({ polling: { initialIntervalMs: 50 } }) }), 'from 100 to'],
  ['a multiplier of 0.5', pipeline({ a: step({ polling: { multiplier: 0.5 } }) }), 'from 1 to 10'],
  ['a negative price', pipeline({ a: step() }, { prices: { 'acme/model': -1 } }), 'non-negative number'],
  ['prices as a list', pipeline({ a: step() }, { prices: [1] }), 'prices: must be a mapping'],
  ['a budget of 0', pipeline({ a: step() }, { budget: { usd: 0 } }), 'budget.usd: must be a positive'],
  ['a budget as a number', pipeline({ a: step() }, { budget: 5 }), 'budget: must be a mapping'],
  [
    'a budget in euros',
    pipeline({ a: step() }, { budget: { usd: 1, eur: 1 }, prices: { 'acme/model': 1 } }),
    'budget.eur: unknown field',
  ],
  ['a description that is a number', pipeline({ a: step() }, { description: 3 }), 'must be text'],
  ['cache as a word', pipeline({ a: step({ cache: 'yes' }) }), 'steps.a.cache: must be true or false'],
  ['a pipeline cache as a number', pipeline({ a: step() }, { cache: 1 }), 'cache: must be true or false'],
  ['an approval without a message', pipeline({ a: { approve: {} } }), 'steps.a.approve.message: must say'],
  [
    'an approval with a model',
    pipeline({ a: { approve: { message: 'x' }, model: 'acme/m' } }),
    "unknown field 'model'",
  ],
  [
    'an approval timeout in words',
    pipeline({ a: { approve: { message: 'x', timeout: 'forever' } } }),
    'is not a duration',
  ],
  [
    'onTimeout: wait',
    pipeline({ a: { approve: { message: 'x', onTimeout: 'wait' } } }),
    "must be 'reject' or 'approve'",
  ],
  ['a cached approval', pipeline({ a: { approve: { message: 'x' }, cache: true } }), "unknown field 'cache'"],
  [
    'an approval with an input',
    pipeline({ a: { approve: { message: 'x' }, input: { x: 1 } } }),
    'has no input',
  ],
];

/** What only validation catches: the shape is right, the meaning is not. */
const SEMANTIC: [string, unknown, string][] = [
  ['an unknown input', pipeline({ a: step({ input: { x: '{{ inputs.x }}' } }) }), "unknown input 'x'"],
  [
    'a cycle',
    pipeline({ a: step({ input: { x: '{{ steps.b.output }}' } }), b: step({ needs: ['a'] }) }),
    'dependency cycle',
  ],
  ['needs an unknown step', pipeline({ a: step({ needs: ['nope'] }) }), "unknown step 'nope'"],
  ['a timeout of 25h', pipeline({ a: step() }, { timeout: '25h' }), 'out of range'],
  ['a budget without prices', pipeline({ a: step() }, { budget: { usd: 1 } }), 'prices.acme/model: missing'],
  [
    'an approval of 200h',
    pipeline({ a: { approve: { message: 'x', timeout: '200h' } } }),
    'from 10s to 168h',
  ],
];

describe('the pipeline JSON Schema', () => {
  it.each(EXAMPLES)('accepts examples/%s, which validation accepts too', (_file, text) => {
    const spec: unknown = parse(text);
    expect(validationErrors(spec)).toEqual([]);
    expect(schemaAccepts(spec), JSON.stringify(check.errors)).toBe(true);
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/pipeline.schema.json');
  });

  it.each(VALID)('accepts a valid spec: %s', (_name, spec) => {
    expect(validationErrors(spec)).toEqual([]);
    expect(schemaAccepts(spec), JSON.stringify(check.errors)).toBe(true);
  });

  it.each(STRUCTURAL)('rejects what validation rejects for its shape: %s', (_name, spec, said) => {
    expect(validationErrors(spec).join('\n')).toContain(said);
    expect(schemaAccepts(spec)).toBe(false);
  });

  it.each(SEMANTIC)('leaves to validation what needs more than the shape: %s', (_name, spec, said) => {
    expect(validationErrors(spec).join('\n')).toContain(said);
    expect(schemaAccepts(spec), JSON.stringify(check.errors)).toBe(true);
  });

  it('ships in the package', () => {
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'));
    expect(manifest.files).toContain('schemas/*.json');
    expect(manifest.exports['./pipeline.schema.json']).toBe('./schemas/pipeline.schema.json');
  });
});
