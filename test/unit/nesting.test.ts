/**
 * Nesting depth: a few KB nested thousands of levels deep is refused at validation with a typed error naming the
 * field path and the limit, fast, everywhere a request or a spec comes in (validateRequest in the workflow and the
 * CLI, startPrediction, startPipeline, spec files in YAML or JSON); every walk over untrusted data copes with any
 * depth without overflowing the stack.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshot } from '../../src/activities/snapshot';
import { fileUrls } from '../../src/activities/outputs';
import { runCli } from '../../src/cli';
import { startPipeline, startPrediction } from '../../src/client';
import { parse } from 'yaml';
import { loadPipelineFile } from '../../src/client/pipeline-file';
import { yamlNestsDeeperThan } from '../../src/client/yaml-depth';
import { PROJECT_ROOT } from '../../src/dev/binaries';
import { canonicalJson } from '../../src/shared/adopt';
import { MAX_INPUT_DEPTH, MAX_OUTPUT_DEPTH, tooDeep } from '../../src/shared/depth';
import { PipelineSpecError, validatePipelineSpec, type PipelineSpec } from '../../src/shared/pipeline';
import { findCycles } from '../../src/shared/pipeline/graph';
import type { Prediction } from '../../src/shared/types';
import { validateRequest } from '../../src/shared/validate';

const dir = mkdtempSync(path.join(tmpdir(), 'nesting-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `{"a":{"a":…{"a":1}…}}`, `depth` objects deep. */
function nested(depth: number): Record<string, unknown> {
  return JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as Record<string, unknown>;
}

/** The input: 6 KB of JSON nested 3,000 levels deep, `{"a":[[[…]]]}`. */
const DEEP = { a: JSON.parse(`${'['.repeat(2999)}${']'.repeat(2999)}`) as unknown };
const DEEP_PATH = 'a[0][0][0][0]… (level 65)';
const LIMIT_TEXT = `nested more than ${MAX_INPUT_DEPTH} levels deep`;

const neverConnects = (() => {
  throw new Error('must not connect');
}) as unknown as Client;

describe('the limit itself', () => {
  it('counts levels iteratively and names the path of the first collection past the limit', () => {
    expect(JSON.stringify(DEEP).length).toBeLessThan(7_000);
    expect(tooDeep(nested(MAX_INPUT_DEPTH), MAX_INPUT_DEPTH, 'input')).toBeNull();
    expect(tooDeep(nested(MAX_INPUT_DEPTH + 1), MAX_INPUT_DEPTH, 'input')).toEqual({
      path: `input.a.a.a.a.a… (level ${MAX_INPUT_DEPTH + 1})`,
      limit: MAX_INPUT_DEPTH,
    });
    expect(tooDeep({ list: [[[]]] }, 3, 'x')).toEqual({ path: 'x.list[0][0]', limit: 3 });
    expect(tooDeep(nested(1_000_000), MAX_INPUT_DEPTH, 'input')).not.toBeNull(); // no RangeError
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(tooDeep(cyclic, MAX_INPUT_DEPTH, 'input')).not.toBeNull();
  });
});

describe('prediction requests', () => {
  it('validateRequest refuses the 3,000-deep input at once, naming the path and the limit', () => {
    const started = performance.now();
    const problems = validateRequest({ model: 'owner/model', input: DEEP });
    expect(performance.now() - started).toBeLessThan(100);
    expect(problems).toEqual([expect.stringContaining(`input.${DEEP_PATH}: ${LIMIT_TEXT}`)]);
    expect(validateRequest({ model: 'owner/model', input: nested(MAX_INPUT_DEPTH) })).toEqual([]);
    // deeper than JSON.stringify can take: still a problem, not a RangeError
    expect(validateRequest({ model: 'owner/model', input: nested(100_000) })).toHaveLength(1);
  });

  it('startPrediction throws the typed error before it touches the client', async () => {
    const started = performance.now();
    await expect(
      startPrediction(neverConnects, { model: 'owner/model', input: DEEP }, { taskQueue: 'q' }),
    ).rejects.toThrow(
      new TypeError(
        `input.${DEEP_PATH}: ${LIMIT_TEXT} (objects and lists inside each other); flatten it, or pass deep data as a file URL`,
      ),
    );
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('the CLI (in process) answers exit 2 naming the field, in well under a second', async () => {
    const err: string[] = [];
    const started = performance.now();
    const code = await runCli(['run', '--model', 'owner/model', '--input', JSON.stringify(DEEP)], {
      client: () => Promise.reject(new Error('must not connect')),
      taskQueue: 'q',
      out: () => undefined,
      err: (line) => err.push(line),
    });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(code).toBe(2);
    expect(err.join('\n')).toContain(`input.${DEEP_PATH}: ${LIMIT_TEXT}`);
  });

  it('a --prices file nested 20,000 deep is refused before the YAML parser recurses into it', async () => {
    const err: string[] = [];
    const deep = `owner/model: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`;
    const code = await runCli(
      ['run', '--model', 'owner/model', '--input', '{}', '--max-cost', '1', '--prices', 'prices.yaml'],
      {
        client: () => Promise.reject(new Error('must not connect')),
        taskQueue: 'q',
        out: () => undefined,
        err: (line) => err.push(line),
        readFile: () => deep,
      },
    );
    expect(code).toBe(2);
    expect(err.join('\n')).toContain('--prices: cannot read prices.yaml: nested too deep');
  });

  it('`npm run -s client -- run` exits 2 with the typed error', () => {
    const result = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'run',
        '--model',
        'owner/model',
        '--input',
        JSON.stringify(DEEP),
      ],
      { cwd: PROJECT_ROOT, encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' } },
    );
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toContain(LIMIT_TEXT);
  });
});

describe('pipeline specs', () => {
  const spec = (input: unknown, inputs: Record<string, unknown> = {}) => ({
    name: 'deep',
    inputs,
    steps: { one: { model: 'owner/model', input } },
  });

  it('validatePipelineSpec refuses a deep step input and a deep pipeline input, each at its path', () => {
    const started = performance.now();
    const result = validatePipelineSpec(spec({ x: DEEP }, { blob: DEEP }));
    expect(performance.now() - started).toBeLessThan(100);
    expect('errors' in result && result.errors).toEqual(
      expect.arrayContaining([
        {
          path: 'steps.one.input',
          message: expect.stringContaining(`steps.one.input.x.a[0][0][0]… (level 65)`),
        },
        { path: 'inputs.blob', message: expect.stringContaining(`inputs.blob.a[0][0][0][0]… (level 65)`) },
      ]),
    );
    // an override (--input) is an input too
    const overridden = validatePipelineSpec(spec({}), { blob: DEEP });
    expect('errors' in overridden && overridden.errors[0]!.path).toBe('inputs.blob');
  });

  it('startPipeline throws PipelineSpecError before it touches the client', async () => {
    const valid = validatePipelineSpec(spec({ x: '{{ inputs.blob }}' }, { blob: 1 }));
    if (!('spec' in valid)) throw new Error('expected a valid spec');
    await expect(
      startPipeline(
        neverConnects,
        { spec: valid.spec as PipelineSpec, inputs: { blob: DEEP } },
        { taskQueue: 'q' },
      ),
    ).rejects.toThrow(PipelineSpecError);
  });

  it.each([
    [
      'yaml',
      (d: number) =>
        `name: deep\nsteps:\n  one:\n    model: owner/model\n    input: { x: ${'['.repeat(d)}${']'.repeat(d)} }\n`,
    ],
    [
      'yaml',
      (d: number) =>
        `name: deep\ninputs:\n  blob:\n${'  - '.repeat(1)}${'- '.repeat(d)}x\nsteps:\n  one: { model: owner/model, input: {} }\n`,
    ],
    [
      'json',
      (d: number) =>
        `{"name":"deep","steps":{"one":{"model":"owner/model","input":{"x":${'['.repeat(d)}${']'.repeat(d)}}}}}`,
    ],
  ])('a %s spec file nested 3,000 and 20,000 deep: a typed error in well under a second', (ext, text) => {
    for (const depth of [3000, 20_000]) {
      const file = path.join(dir, `deep-${depth}.${ext}`);
      writeFileSync(file, text(depth));
      const started = performance.now();
      expect(() => loadPipelineFile(file)).toThrow(PipelineSpecError);
      expect(() => loadPipelineFile(file)).toThrow(/nested more than (64|256) levels deep/);
      expect(performance.now() - started).toBeLessThan(1_000);
    }
  });

  it('`npm run -s client -- pipeline run` on a deep JSON spec exits 2 naming the field', () => {
    const file = path.join(dir, 'deep-cli.json');
    writeFileSync(
      file,
      `{"name":"deep","steps":{"one":{"model":"owner/model","input":{"x":${'['.repeat(3000)}${']'.repeat(3000)}}}}}`,
    );
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'pipeline', 'run', file],
      {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
      },
    );
    expect(result.status, result.stderr).toBe(2);
    expect(result.stderr).toContain('steps.one.input');
    expect(result.stderr).toContain(LIMIT_TEXT);
  });

  it.each([
    ['a:\n  b:\n    c: 1\n', 3],
    ['- - - x\n', 3],
    ['- a: 1\n  b: [1, [2]]\n', 4],
    ['a: |\n  [[[[ { - - - :\n  more: text\n', 1],
    ['a: "[[[[ - - : {"\n', 1],
    ['a: [\n  1,\n   [2,\n 3]\n]\nb: 1\n', 3],
    ['inputs:\n  blob:\n  - x\n  - y\n  other: 1\n', 3],
    ['- a\n- b\n- - c\n  - d\n- e: 1\n  f:\n  - g\n', 3],
    [`x:\n  - ${'- '.repeat(40)}y\n`, 42],
    [Array.from({ length: 50 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1\n', 50],
  ])('the YAML depth estimate of %j is its real depth (%i)', (text, depth) => {
    expect(yamlNestsDeeperThan(text, depth)).toBe(false);
    expect(yamlNestsDeeperThan(text, depth - 1)).toBe(true);
    expect(tooDeep(parse(text), depth, 'x')).toBeNull();
    expect(tooDeep(parse(text), depth - 1, 'x')).not.toBeNull();
  });

  it('a chain of 20,000 steps is checked for cycles without recursion', () => {
    const steps: Record<string, { model: string; input: Record<string, unknown>; needs?: string[] }> = {};
    for (let i = 0; i < 20_000; i++)
      steps[`s${i}`] = { model: 'owner/model', input: {}, ...(i > 0 ? { needs: [`s${i - 1}`] } : {}) };
    steps.s0!.needs = ['s19999'];
    const cycles = findCycles(steps as never);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]!.message).toMatch(/^dependency cycle: s0 -> s19999 -> /);
  });
});

describe('walks over what a model returns', () => {
  it('canonicalJson (adoption) never throws: a too-deep input cannot be ours', () => {
    expect(() => canonicalJson(nested(100_000))).not.toThrow();
    expect(canonicalJson(nested(100_000))).toBe('#nested-too-deep'); // not JSON: equals no input of ours
    expect(canonicalJson(nested(MAX_OUTPUT_DEPTH))).toBe(JSON.stringify(nested(MAX_OUTPUT_DEPTH)));
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe('{"a":[1,{"c":3,"d":2}],"b":1}');
  });

  it('fileUrls (output persistence) collects URLs at any depth without recursion', () => {
    const deep = JSON.parse(
      `${'['.repeat(100_000)}"https://replicate.delivery/x.png"${']'.repeat(100_000)}`,
    ) as unknown;
    expect(fileUrls(deep)).toEqual(['https://replicate.delivery/x.png']);
    expect(fileUrls({ a: ['data:text/plain,x', { b: 'https://h/y' }], c: 'no' })).toEqual([
      'data:text/plain,x',
      'https://h/y',
    ]);
  });

  it('snapshot refuses an output nested deeper than the output limit, typed and not retryable', () => {
    const job = { id: 'p1', status: 'succeeded', output: nested(100_000) } as unknown as Prediction;
    expect(() => snapshot(job)).toThrow(
      expect.objectContaining({
        type: 'PredictionOutputRefused',
        nonRetryable: true,
        message: expect.stringContaining(`output.a.a.a.a.a… (level ${MAX_OUTPUT_DEPTH + 1})`),
      }),
    );
    expect(snapshot({ ...job, output: nested(MAX_OUTPUT_DEPTH) }).output).toEqual(nested(MAX_OUTPUT_DEPTH));
  });
});
