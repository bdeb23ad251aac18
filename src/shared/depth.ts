/**
 * How deeply JSON-like data nests (objects and lists inside each other), measured without recursion: untrusted
 * data (inputs, specs, model outputs) is checked with this before anything recursive walks it, since a few KB
 * nested thousands deep overflow the stack of any recursive walk (JSON.stringify included).
 */

/** Deepest nesting accepted in a prediction's input, a pipeline's inputs and a spec's step inputs. */
export const MAX_INPUT_DEPTH = 64;

/**
 * Deepest nesting accepted in a model's output: more generous than inputs (the output is the model's, and a step
 * that passes it on is held to MAX_INPUT_DEPTH there), well within what JSON.stringify and our walks can take.
 */
export const MAX_OUTPUT_DEPTH = 512;

/** Where a value nests too deep: the path of the first collection past the limit. */
export interface TooDeep {
  /** `input.a.b[0]…`: the first few levels of that path, enough to find it */
  path: string;
  limit: number;
}

interface Frame {
  value: unknown;
  depth: number;
  parent: Frame | null;
  key: string | number;
}

/** Levels of a too-deep path shown in messages (the rest is elided). */
const PATH_LEVELS_SHOWN = 6;

/**
 * The first collection in `value` nested more than `limit` levels deep (the top-level object or list is level 1),
 * or null when there is none. `root` names `value` in the path ('' = none: the path starts at its fields). Iterative: safe on any depth, and on cycles (they
 * are simply too deep).
 */
export function tooDeep(value: unknown, limit: number, root: string): TooDeep | null {
  const stack: Frame[] = [{ value, depth: 1, parent: null, key: root }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (typeof v !== 'object' || v === null) continue;
    if (frame.depth > limit) return { path: pathOf(frame), limit };
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], depth: frame.depth + 1, parent: frame, key: i });
    } else {
      for (const [k, child] of Object.entries(v))
        stack.push({ value: child, depth: frame.depth + 1, parent: frame, key: k });
    }
  }
  return null;
}

/** One line naming where the data nests too deep, the limit and the fix. */
export function tooDeepMessage(found: TooDeep): string {
  return `${found.path}: nested more than ${found.limit} levels deep (objects and lists inside each other); flatten it, or pass deep data as a file URL`;
}

function pathOf(frame: Frame): string {
  const keys: (string | number)[] = [];
  for (let f: Frame | null = frame; f !== null; f = f.parent) keys.push(f.key);
  keys.reverse();
  const shown = keys.slice(0, PATH_LEVELS_SHOWN).map((k, i) => segment(k, i === 0));
  if (keys[0] === '' && shown[1] !== undefined) shown[1] = shown[1].replace(/^\./, ''); // no root name
  return `${shown.join('')}${keys.length > PATH_LEVELS_SHOWN ? `… (level ${frame.depth})` : ''}`;
}

function segment(key: string | number, first: boolean): string {
  if (typeof key === 'number') return `[${key}]`;
  if (first) return key;
  if (key === '') return '[""]';
  return /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key.slice(0, 40))}]`;
}
