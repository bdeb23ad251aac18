/** A small parser for the Prometheus text exposition format: metric families, their type and label names. */

export interface Family {
  name: string;
  type: string;
  labels: Set<string>;
  /** sample lines: series name (with _bucket/_sum/_count), labels and value */
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Family[] {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', labels: new Set(), samples: [] }));
    return f;
  };
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      family(type[1]!).type = type[2]!;
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = SAMPLE.exec(line);
    if (!sample) continue;
    const series = sample[1]!;
    const base = [...types.keys()].find(
      (name) =>
        series === name ||
        (/_(bucket|sum|count|total)$/.test(series) &&
          series.replace(/_(bucket|sum|count|total)$/, '') === name),
    );
    const f = family(base ?? series);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(LABEL)) {
      labels[key!] = value!;
      if (key !== 'le') f.labels.add(key!);
    }
    f.samples.push({ name: series, labels, value: Number(sample[3]) });
  }
  return [...families.values()];
}
