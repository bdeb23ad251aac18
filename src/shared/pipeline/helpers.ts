/** Small helpers of validation and templates: messages that describe values, "did you mean", plain data. */

/** How validation reports one problem: at the path of the offending field. */
export type Report = (path: string, message: string) => void;

export function unknownInput(name: string): string {
  return `unknown input '${name}'; declare it under inputs or pass --input ${name}=…`;
}

export function unknownStep(name: string, stepNames: string[]): string {
  const suggestion = closest(name, stepNames);
  return `unknown step '${name}'${suggestion ? ` (did you mean '${suggestion}'?)` : ''}; steps are ${stepNames.join(', ')}`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A deep copy of plain data (objects, arrays, primitives). Keys become own data properties (Object.fromEntries),
 * so a `__proto__` key stays a key instead of setting the copy's prototype.
 */
export function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (isPlainObject(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneData(v)]));
  return value;
}

/** Input names that plain objects cannot hold as data. */
export const RESERVED_INPUT_NAMES = ['__proto__'];

export function reservedInputName(name: string): string {
  return `'${name}' cannot be an input name (JavaScript objects reserve it); rename the input`;
}

export function describeType(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const json = JSON.stringify(value);
  return json !== undefined && json.length <= 40 ? json : describeType(value);
}

/** The known name closest to `name` (edit distance ≤ 2), for "did you mean" hints. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[b.length]!;
}
