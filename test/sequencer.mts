import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import slowest from './slowest.json' with { type: 'json' };

/**
 * The order test files start in: the slowest integration files first, then the unit files (quick, and busy on the
 * CPU while the slow files mostly wait), then the rest in vitest's own order.
 *
 * ./slowest.json lists the files that take longest, roughly longest first (measured with `npx vitest run
 * --reporter=json` on two cores), those busy on the CPU (package, bench, fleet, chaos) between those that mostly
 * wait, so that they do not slow each other down. vitest orders by the durations it cached in node_modules, which a
 * fresh checkout (CI) does not have: it would start them in directory order, and one started last makes the whole
 * suite late.
 * test/unit/sequencer.test.ts fails when a listed file no longer exists, so the list follows renames.
 */
export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const ordered = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      if (spec.project.name === 'unit') return slowest.length;
      const file = path.relative(spec.project.config.root, spec.moduleId).split(path.sep).join('/');
      const at = slowest.indexOf(file);
      return at === -1 ? slowest.length + 1 : at;
    };
    return ordered
      .map((spec, i) => ({ spec, i, rank: rank(spec) }))
      .sort((a, b) => a.rank - b.rank || a.i - b.i)
      .map(({ spec }) => spec);
  }
}
