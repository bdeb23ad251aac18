/**
 * Pipeline specs that used to be accepted and then silently mean something else: a price of 0 with a budget (the
 * budget could never be reached) and a `__proto__` key (dropped on the way by plain-object copies).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli';
import { loadPipelineFile, parseInputOverrides } from '../../src/client/pipeline-file';
import {
  expandStep,
  PipelineSpecError,
  validatePipelineSpec,
  type PipelineSpec,
} from '../../src/shared/pipeline';

const dir = mkdtempSync(path.join(tmpdir(), 'spec-edges-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  name: 'edges',
  steps: { one: { model: 'acme/model', input: { prompt: '{{ inputs.prompt }}' } } },
  inputs: { prompt: 'hi' },
};

function errorsOf(raw: unknown, overrides?: Record<string, unknown>) {
  const result = validatePipelineSpec(raw, overrides);
  return 'errors' in result ? result.errors : [];
}

describe('prices of 0 with a budget', () => {
  it('is refused at the price, naming the fix (a free model can never reach the budget)', () => {
    expect(errorsOf({ ...base, prices: { 'acme/model': 0 }, budget: { usd: 1 } })).toEqual([
      {
        path: 'prices.acme/model',
        message: expect.stringMatching(
          /^0 with a budget: .*give the model's real price .* or remove the budget/,
        ),
      },
    ]);
    // the price that applies through a version's fallback counts too
    const versioned = {
      ...base,
      steps: { one: { model: `acme/model:${'a'.repeat(64)}`, input: {} } },
      prices: { 'acme/model': 0 },
      budget: { usd: 1 },
    };
    expect(errorsOf(versioned).map((e) => e.path)).toEqual(['prices.acme/model']);
  });

  it('is fine without a budget (estimates only), and a positive price with one', () => {
    expect(errorsOf({ ...base, prices: { 'acme/model': 0 } })).toEqual([]);
    expect(errorsOf({ ...base, prices: { 'acme/model': 0.001 }, budget: { usd: 1 } })).toEqual([]);
  });
});

describe('__proto__', () => {
  it('as an --input name is refused, never dropped', () => {
    expect(() => parseInputOverrides(['__proto__={"polluted":true}'])).toThrow(PipelineSpecError);
    expect(() => parseInputOverrides(['__proto__=x'])).toThrow(/'__proto__' cannot be an input name/);
  });

  it("as a name in the spec's inputs (or an override) is refused at its path", () => {
    const raw = JSON.parse(
      '{"name":"edges","inputs":{"__proto__":{"polluted":true}},"steps":{"one":{"model":"acme/model","input":{}}}}',
    ) as unknown;
    expect(errorsOf(raw)).toEqual([
      { path: 'inputs.__proto__', message: expect.stringContaining("'__proto__' cannot be an input name") },
    ]);
    const overrides = JSON.parse('{"__proto__":"x"}') as Record<string, unknown>;
    expect(errorsOf(base, overrides).map((e) => e.path)).toEqual(['inputs.__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('in a YAML spec file, too', () => {
    const file = path.join(dir, 'proto.yaml');
    writeFileSync(
      file,
      'name: edges\ninputs:\n  __proto__: {polluted: true}\nsteps:\n  one: {model: acme/model, input: {}}\n',
    );
    expect(() => loadPipelineFile(file)).toThrow(/inputs\.__proto__: '__proto__' cannot be an input name/);
  });

  it("as a key of a step's input is kept as data, to the model", () => {
    const raw = JSON.parse(
      '{"name":"edges","inputs":{"p":"x"},"steps":{"one":{"model":"acme/model","input":{"__proto__":{"a":"{{ inputs.p }}"},"b":1}}}}',
    ) as unknown;
    const result = validatePipelineSpec(raw);
    if (!('spec' in result)) throw new Error(JSON.stringify(result.errors));
    const spec: PipelineSpec = result.spec;
    expect(Object.keys(spec.steps.one!.input!)).toEqual(['__proto__', 'b']);
    const [run] = expandStep(spec, 'one', { inputs: spec.inputs, steps: {} });
    expect(Object.keys(run!.input)).toEqual(['__proto__', 'b']);
    expect(JSON.stringify(run!.input)).toBe('{"__proto__":{"a":"x"},"b":1}');
  });

  it('the CLI answers exit 2 for --input __proto__=…', async () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, 'name: edges\nsteps:\n  one: {model: acme/model, input: {}}\n');
    const err: string[] = [];
    const code = await runCli(['pipeline', 'run', file, '--input', '__proto__={"a":1}'], {
      client: () => Promise.reject(new Error('must not connect')),
      taskQueue: 'q',
      out: () => undefined,
      err: (line) => err.push(line),
    });
    expect(code).toBe(2);
    expect(err.join('\n')).toContain("'__proto__' cannot be an input name");
  });
});
