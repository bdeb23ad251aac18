/** What a pipeline may start altogether, checked by validation before anything starts (src/shared/pipeline/check-size.ts). */
import { describe, expect, it } from 'vitest';
import {
  MAX_PIPELINE_INPUT_BYTES,
  PIPELINE_LIMITS,
  startBytes,
  validatePipelineSpec,
} from '../../src/shared/pipeline';

function steps(n: number, step: (i: number) => Record<string, unknown>) {
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, step(i)]));
}

function errorsOf(spec: unknown) {
  const checked = validatePipelineSpec(spec);
  return 'errors' in checked ? checked.errors : [];
}

describe('how many predictions a pipeline runs', () => {
  it('2,100 independent steps are refused at `steps`, naming the count and the fix', () => {
    const errors = errorsOf({ name: 'wide', steps: steps(2_100, () => ({ model: 'a/b', input: {} })) });
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('steps');
    expect(errors[0]!.message).toContain('runs up to 2100 predictions (2100 steps');
    expect(errors[0]!.message).toContain(`at most ${PIPELINE_LIMITS.maxRuns} run in one pipeline`);
    expect(errors[0]!.message).toContain('split it into several pipelines');
  });

  it('41 steps of count 50 are refused; 40 of them (2,000 predictions) pass', () => {
    const fan = (n: number) => ({
      name: 'fan',
      steps: steps(n, () => ({ model: 'a/b', input: {}, count: 50 })),
    });
    expect(errorsOf(fan(41))[0]!.message).toContain(
      'runs up to 2050 predictions (41 steps, the largest s0 with 50',
    );
    expect(errorsOf(fan(40))).toEqual([]);
  });

  it('a foreach counts its list when the inputs give it, else at its 100 items', () => {
    const overInputs = (n: number) => ({
      name: 'each',
      inputs: { items: [1, 2, 3] },
      steps: steps(n, () => ({ model: 'a/b', input: { n: '{{ item }}' }, foreach: '{{ inputs.items }}' })),
    });
    expect(errorsOf(overInputs(666))).toEqual([]); // 1,998
    expect(errorsOf(overInputs(667))[0]!.message).toContain('runs up to 2001 predictions');
    const overOutputs = (n: number) => ({
      name: 'each',
      steps: {
        gen: { model: 'a/b', input: {} },
        ...steps(n, () => ({
          model: 'a/b',
          input: { image: '{{ item }}' },
          foreach: '{{ steps.gen.outputs }}',
        })),
      },
    });
    expect(errorsOf(overOutputs(19))).toEqual([]); // 1 + 1,900
    expect(errorsOf(overOutputs(20))[0]!.message).toContain('runs up to 2001 predictions');
  });
});

describe("how much input a pipeline's predictions take", () => {
  const blob = 'x'.repeat(900_000);
  const sharing = (n: number) => ({
    name: 'heavy',
    inputs: { blob },
    steps: steps(n, () => ({ model: 'a/b', input: { blob: '{{ inputs.blob }}' } })),
  });
  const fits = Math.floor(MAX_PIPELINE_INPUT_BYTES / startBytes({ blob }));

  it(`steps sharing one 0.9 MB input: ${'`'}fits${'`'} of them pass, one more is refused at steps, naming the limit`, () => {
    expect(fits).toBe(17);
    expect(errorsOf(sharing(fits))).toEqual([]);
    const errors = errorsOf(sharing(fits + 1));
    expect(errors.map((e) => e.path)).toEqual(['steps']);
    expect(errors[0]!.message).toContain(`over the ${MAX_PIPELINE_INPUT_BYTES}-byte limit of one pipeline`);
    expect(errors[0]!.message).toContain('pass large data as URLs');
  });

  it('a count multiplies its input; inputs made of earlier outputs are left to the run', () => {
    const counted = {
      name: 'heavy',
      inputs: { blob },
      steps: { many: { model: 'a/b', input: { blob: '{{ inputs.blob }}' }, count: fits + 1 } },
    };
    expect(errorsOf(counted)[0]!.message).toContain('bytes of JSON together');
    const later = {
      name: 'later',
      steps: {
        gen: { model: 'a/b', input: {} },
        ...steps(30, () => ({ model: 'a/b', input: { text: '{{ steps.gen.output }}' } })),
      },
    };
    expect(errorsOf(later)).toEqual([]);
  });
});
