/** Validation of a step's templates before the run: references that exist, and types that fit where they are known. */
import { describeType, unknownInput, unknownStep, type Report } from './helpers';
import { isFannedOut } from './fan-out';
import { PIPELINE_LIMITS } from './limits';
import type { StepSpec } from './spec';
import { parseString, refText, templateStrings, walk, type Accessor, type Ref } from './templates';

/** What validation knows about a reference's value before the run. */
type StaticValue =
  { known: true; value: unknown } | { known: false; shape: 'list' | 'number' | 'any'; desc: string };

/** Check the references of a step's foreach and input; report each problem at the field's path. */
export function checkStepTemplates(
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
