/**
 * "Did you mean …?" for an unknown model or deployment: the known `owner/name` nearest by edit distance, when it
 * is close enough to be a typo (at most 40% of the typed name's length, and at least 2, edits away).
 */

/**
 * Levenshtein distance, case-insensitive. Written here rather than taken from a package: a dozen lines on names
 * of at most a few dozen characters, for a dev tool that otherwise needs no dependency for it.
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    for (let j = 1; j <= t.length; j++) {
      const substitution = previous[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[t.length]!;
}

/** The known name nearest to `typed`, or undefined when none is within typo distance (or typed is known). */
export function nearestName(typed: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(2, Math.ceil(typed.length * 0.4));
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(typed, name);
    if (distance === 0 && name === typed) return undefined;
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** ` Did you mean owner/name?`, or '' when nothing is close. */
export function didYouMean(typed: string, known: Iterable<string>): string {
  const name = nearestName(typed, known);
  return name === undefined ? '' : ` Did you mean ${name}?`;
}
