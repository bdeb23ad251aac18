/** Durations as people and Replicate write them: `500ms`, `30s`, `10m`, `1h30m`. Pure. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parse a duration with units (`90s`, `10m`, `1h30m45s`, `250ms`) into milliseconds.
 * Returns an error message instead of throwing, so callers can name the field.
 */
export function parseDuration(text: string): { ms: number } | { error: string } {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    return { error: `"${text}" has no unit: write e.g. ${trimmed}s or ${trimmed}m` };
  }
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    return { error: `"${text}" is not a duration: use e.g. 30s, 10m or 1h30m` };
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * (UNIT_MS[p[2]!] ?? 0), 0);
  return { ms: Math.round(ms) };
}

/** Format milliseconds the way Replicate's `Cancel-After` header accepts (whole seconds, `s` suffix). */
export function formatSeconds(ms: number): string {
  return `${Math.floor(ms / 1000)}s`;
}

/** Human form for logs and the CLI: `4.5s`, `2m05s`. */
export function humanDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const minutes = Math.floor(totalSeconds / 60);
  const seconds = totalSeconds % 60;
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}
