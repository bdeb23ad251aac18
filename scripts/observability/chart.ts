/**
 * The dashboard as one HTML page, drawn from query results: the Grafana JSON's rows and panels at their grid
 * positions, time series as hand-written SVG line charts, stat panels as numbers. No charting dependency (like
 * bench/src/svg.ts): a few dozen lines of SVG are enough for a static picture, and nothing loads from the network.
 */

export interface Series {
  name: string;
  /** [unix seconds, value] */
  points: Array<[number, number]>;
}

export interface RenderedPanel {
  title: string;
  type: 'timeseries' | 'stat' | 'row';
  unit: string;
  gridPos: { x: number; y: number; w: number; h: number };
  series: Series[];
  /** fixed y maximum (e.g. 1 for ratios) */
  max?: number;
}

const COLORS = [
  '#73bf69',
  '#f2cc0c',
  '#8ab8ff',
  '#ff780a',
  '#f2495c',
  '#5794f2',
  '#b877d9',
  '#fade2a',
  '#37872d',
  '#c4162a',
];
const ROW_PX = 30; // Grafana's grid: one unit of height is 30 px
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A value in the panel's Grafana unit, short. */
export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return '-';
  const n = (x: number): string =>
    Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
  switch (unit) {
    case 'percentunit':
      return `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
    case 's':
      return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${n(value)} s`;
    case 'ms':
      return value >= 1000 ? `${n(value / 1000)} s` : `${n(value)} ms`;
    case 'reqps':
      return `${n(value)} req/s`;
    default:
      return Number.isInteger(value) ? String(value) : n(value);
  }
}

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (max <= step * magnitude) return step * magnitude;
  return 10 * magnitude;
}

function timeLabel(t: number, span: number): string {
  return new Date(t * 1000).toISOString().slice(11, span < 1800 ? 19 : 16);
}

function lineChart(panel: RenderedPanel, width: number, height: number, from: number, to: number): string {
  const legendRows = Math.min(panel.series.length, 6);
  const moreRow = panel.series.length > legendRows ? 1 : 0;
  const left = 58;
  const right = 10;
  const top = 8;
  const plotW = width - left - right;
  const plotH = height - top - 36 - (legendRows + moreRow) * 14;
  const values = panel.series.flatMap((s) => s.points.map(([, v]) => v)).filter(Number.isFinite);
  const max = panel.max ?? niceMax(Math.max(0, ...values) * 1.05);
  const x = (t: number): number => left + ((t - from) / Math.max(1, to - from)) * plotW;
  const y = (v: number): number => top + plotH - (Math.min(v, max) / max) * plotH;
  const parts: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#2c3235"/>`,
      `<text x="${left - 5}" y="${(y(v) + 3).toFixed(1)}" text-anchor="end">${esc(formatValue(v, panel.unit))}</text>`,
    );
  }
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const t = from + ((to - from) * i) / ticks;
    const anchor = i === 0 ? 'start' : i === ticks ? 'end' : 'middle';
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${top + plotH + 13}" text-anchor="${anchor}">${timeLabel(t, to - from)}</text>`,
    );
  }
  panel.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const segments: string[][] = [[]];
    let last = -Infinity;
    for (const [t, v] of s.points) {
      if (!Number.isFinite(v)) continue;
      if (t - last > 30) segments.push([]); // a gap in the data: no line across it
      segments.at(-1)!.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
      last = t;
    }
    for (const segment of segments.filter((p) => p.length > 0))
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${segment.join(' ')}"/>`,
      );
  });
  panel.series.slice(0, legendRows).forEach((s, i) => {
    const ly = top + plotH + 42 + i * 14;
    const lastValue = [...s.points].reverse().find(([, v]) => Number.isFinite(v))?.[1] ?? NaN;
    const maxValue = Math.max(...s.points.map(([, v]) => v).filter(Number.isFinite));
    parts.push(
      `<rect x="${left}" y="${ly - 8}" width="12" height="3" fill="${COLORS[i % COLORS.length]}"/>`,
      `<text x="${left + 18}" y="${ly}">${esc(s.name)}</text>`,
      `<text x="${width - right - 90}" y="${ly}" text-anchor="end">${esc(formatValue(lastValue, panel.unit))}</text>`,
      `<text x="${width - right}" y="${ly}" text-anchor="end">${esc(formatValue(maxValue, panel.unit))}</text>`,
    );
  });
  if (legendRows > 0) {
    const ly = top + plotH + 28;
    parts.push(
      `<text x="${width - right - 90}" y="${ly}" text-anchor="end" fill="#8e8e8e">last</text>`,
      `<text x="${width - right}" y="${ly}" text-anchor="end" fill="#8e8e8e">max</text>`,
    );
  }
  if (panel.series.length > legendRows)
    parts.push(
      `<text x="${left + 18}" y="${top + plotH + 42 + legendRows * 14}" fill="#8e8e8e">+ ${panel.series.length - legendRows} more</text>`,
    );
  if (panel.series.length === 0)
    parts.push(
      `<text x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle" fill="#8e8e8e">No data</text>`,
    );
  return `<svg width="${width}" height="${height}" font-size="10" fill="#ccccdc">${parts.join('')}</svg>`;
}

function statPanel(panel: RenderedPanel): string {
  const items = panel.series.map((s, i) => {
    const value = s.points.at(-1)?.[1] ?? NaN;
    return `<div class="stat"><div class="stat-value" style="color:${COLORS[i % COLORS.length]}">${esc(formatValue(Math.round(value * 100) / 100, panel.unit))}</div><div class="stat-name">${esc(s.name)}</div></div>`;
  });
  return `<div class="stats">${items.join('') || '<div class="stat-name">No data</div>'}</div>`;
}

/** The whole page; `width` is the page's width in pixels (24 grid columns). */
export function dashboardPage(options: {
  title: string;
  subtitle: string;
  panels: RenderedPanel[];
  from: number;
  to: number;
  footer: string;
  width?: number;
}): string {
  const width = options.width ?? 1400;
  const column = width / 24;
  const bottom = Math.max(...options.panels.map((p) => p.gridPos.y + p.gridPos.h));
  const boxes = options.panels.map((panel) => {
    const { x, y, w, h } = panel.gridPos;
    const style = `left:${x * column}px;top:${y * ROW_PX}px;width:${w * column - 8}px;height:${h * ROW_PX - 8}px`;
    if (panel.type === 'row') return `<div class="row" style="${style}">${esc(panel.title)}</div>`;
    const body =
      panel.type === 'stat'
        ? statPanel(panel)
        : lineChart(panel, w * column - 18, h * ROW_PX - 38, options.from, options.to);
    return `<div class="panel" style="${style}"><div class="title">${esc(panel.title)}</div>${body}</div>`;
  });
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#111217;color:#ccccdc;font-family:Inter,Helvetica,Arial,sans-serif;width:${width + 16}px}
header{padding:10px 12px 4px}h1{font-size:17px;margin:0;font-weight:500}header p{margin:3px 0 0;font-size:12px;color:#8e8e8e}
.grid{position:relative;margin:8px;height:${bottom * ROW_PX}px}
.panel{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:4px 5px;box-sizing:border-box;overflow:hidden}
.title{font-size:12px;font-weight:500;margin:1px 2px 4px}
.row{position:absolute;font-size:14px;font-weight:500;padding-top:6px}
.stats{display:flex;flex-wrap:wrap;gap:10px 26px;padding:8px 10px}.stat-value{font-size:28px;font-weight:500}.stat-name{font-size:11px;color:#8e8e8e}
footer{font-size:11px;color:#8e8e8e;padding:0 12px 10px}
</style></head><body><header><h1>${esc(options.title)}</h1><p>${esc(options.subtitle)}</p></header>
<div class="grid">${boxes.join('\n')}</div><footer>${esc(options.footer)}</footer></body></html>`;
}
