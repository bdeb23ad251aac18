/** Hand-written SVG grouped bar charts: no dependencies, one panel per metric, stacked vertically. */

export interface Panel {
  title: string;
  unit: string;
  categories: string[];
  series: Array<{ name: string; values: number[] }>;
  /** draw a dashed target line at this value */
  target?: number;
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (x: number): string =>
  Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);

export function barChart(title: string, panels: Panel[], note = ''): string {
  const width = 760;
  const panelH = 230;
  const top = 40;
  const parts: string[] = [];
  panels.forEach((panel, p) => {
    const y0 = top + p * panelH;
    const left = 70;
    const plotW = width - left - 20;
    const plotH = panelH - 80;
    const all = panel.series.flatMap((s) => s.values).concat(panel.target ?? 0);
    const max = Math.max(1e-9, ...all) * 1.1;
    const groupW = plotW / Math.max(1, panel.categories.length);
    const barW = (groupW * 0.8) / Math.max(1, panel.series.length);
    const y = (v: number): number => y0 + 25 + plotH - (Math.max(0, v) / max) * plotH;
    parts.push(
      `<text x="${left}" y="${y0 + 15}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`,
    );
    parts.push(
      `<line x1="${left}" y1="${y(0)}" x2="${left + plotW}" y2="${y(0)}" stroke="#333"/>`,
      `<text x="${left - 6}" y="${y(max / 1.1)}" font-size="10" text-anchor="end">${fmt(max / 1.1)} ${esc(panel.unit)}</text>`,
    );
    panel.categories.forEach((cat, c) => {
      const gx = left + c * groupW + groupW * 0.1;
      panel.series.forEach((s, i) => {
        const v = s.values[c] ?? 0;
        const x = gx + i * barW;
        parts.push(
          `<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(y(0) - y(v)).toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(`${s.name} ${cat}: ${fmt(v)} ${panel.unit}`)}</title></rect>`,
          `<text x="${(x + barW / 2).toFixed(1)}" y="${(y(v) - 3).toFixed(1)}" font-size="9" text-anchor="middle">${fmt(v)}</text>`,
        );
      });
      parts.push(
        `<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${y(0) + 14}" font-size="11" text-anchor="middle">${esc(cat)}</text>`,
      );
    });
    if (panel.target !== undefined) {
      parts.push(
        `<line x1="${left}" y1="${y(panel.target)}" x2="${left + plotW}" y2="${y(panel.target)}" stroke="#c00" stroke-dasharray="5,4"/>`,
        `<text x="${left + plotW}" y="${y(panel.target) - 3}" font-size="10" fill="#c00" text-anchor="end">target ${fmt(panel.target)}</text>`,
      );
    }
    panel.series.forEach((s, i) => {
      const lx = left + i * 150;
      const ly = y0 + panelH - 28;
      parts.push(
        `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`,
        `<text x="${lx + 14}" y="${ly + 9}" font-size="10">${esc(s.name)}</text>`,
      );
    });
  });
  const height = top + panels.length * panelH + (note ? 20 : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    ...parts,
    note ? `<text x="10" y="${height - 8}" font-size="10" fill="#555">${esc(note)}</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}
