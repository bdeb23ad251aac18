/** The steps' dependencies (from templates and `needs`), their execution order, and dependency cycles. */
import { PipelineSpecError, type PipelineSpec, type SpecError, type StepSpec } from './spec';
import { parseString, templateStrings } from './templates';

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

/**
 * One error per cycle found by a depth-first search in declaration order, at the field of its first edge. The
 * search keeps its own stack: a chain of thousands of steps is fine.
 */
export function findCycles(steps: Record<string, StepSpec>): SpecError[] {
  const edges = dependencyEdges(steps);
  const state = new Map<string, 'active' | 'done'>();
  const errors: SpecError[] = [];
  /** the active path: each step with the dependencies it has yet to visit */
  const path: { name: string; deps: Iterator<string> }[] = [];
  const enter = (name: string): void => {
    state.set(name, 'active');
    path.push({ name, deps: (edges.get(name)?.keys() ?? [].values())[Symbol.iterator]() });
  };
  for (const root of Object.keys(steps)) {
    if (state.has(root)) continue;
    enter(root);
    while (path.length > 0) {
      const top = path[path.length - 1]!;
      const next = top.deps.next();
      if (next.done) {
        path.pop();
        state.set(top.name, 'done');
        continue;
      }
      const dep = next.value;
      const s = state.get(dep);
      if (s === 'active') {
        const names = path.map((p) => p.name);
        const cycle = [...names.slice(names.indexOf(dep)), dep];
        const first = cycle[0]!;
        const at = edges.get(first)?.get(cycle[1]!) ?? `steps.${first}`;
        errors.push({ path: at, message: `dependency cycle: ${cycle.join(' -> ')}` });
      } else if (s === undefined) {
        enter(dep);
      }
    }
  }
  return errors;
}
