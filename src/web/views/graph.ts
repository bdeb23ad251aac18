/**
 * A pipeline's steps as a graph: one column per depth (a step sits one column right of its deepest dependency),
 * in dependency order within a column, an arrow from each dependency to its dependent. Drawn as inline SVG on the
 * server; each node links to its step's card below, which says the same in text (the accessible version).
 */
import { html, type Html } from '../html';
import { statusClass } from './format';

const NODE_W = 168;
const NODE_H = 44;
const GAP_X = 56;
const GAP_Y = 14;
const PAD = 4;

export interface GraphLayout {
  /** column and row of each step */
  at: Record<string, { col: number; row: number }>;
  cols: number;
  rows: number;
}

/** Columns by depth, rows by `order` (dependency order) within each column. */
export function layoutGraph(order: string[], deps: Record<string, string[]>): GraphLayout {
  const col: Record<string, number> = {};
  for (const name of order) col[name] = Math.max(-1, ...(deps[name] ?? []).map((d) => col[d] ?? 0)) + 1;
  const rowsIn: number[] = [];
  const at: GraphLayout['at'] = {};
  for (const name of order) {
    const c = col[name]!;
    rowsIn[c] = (rowsIn[c] ?? 0) + 1;
    at[name] = { col: c, row: rowsIn[c]! - 1 };
  }
  return { at, cols: rowsIn.length, rows: Math.max(0, ...rowsIn) };
}

/** The graph: `status(step)` is the word shown under each step's name (and its colour). */
export function graphSvg(
  order: string[],
  deps: Record<string, string[]>,
  status: (step: string) => string,
): Html {
  if (order.length === 0) return html``;
  const { at, cols, rows } = layoutGraph(order, deps);
  const x = (step: string) => PAD + at[step]!.col * (NODE_W + GAP_X);
  const y = (step: string) => PAD + at[step]!.row * (NODE_H + GAP_Y);
  const width = PAD * 2 + cols * NODE_W + (cols - 1) * GAP_X;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * GAP_Y;
  const edges = order.flatMap((to) =>
    (deps[to] ?? [])
      .filter((from) => at[from])
      .map((from) => {
        const x1 = x(from) + NODE_W;
        const y1 = y(from) + NODE_H / 2;
        const x2 = x(to) - 6;
        const y2 = y(to) + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        return html`<path
          class="edge"
          d="M${x1} ${y1} C${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}"
          marker-end="url(#arrow)"
        />`;
      }),
  );
  const nodes = order.map((step) => {
    const s = status(step);
    return html`<a href="#step-${step}" aria-label="${step}: ${s}">
      <rect
        class="node ${statusClass(s)}"
        x="${x(step)}"
        y="${y(step)}"
        width="${NODE_W}"
        height="${NODE_H}"
        rx="6"
      />
      <text class="node-name" x="${x(step) + 10}" y="${y(step) + 18}">${clip(step, 20)}</text>
      <text class="node-status" x="${x(step) + 10}" y="${y(step) + 35}">${clip(s, 24)}</text>
    </a>`;
  });
  return html`<svg
    class="graph"
    viewBox="0 0 ${width} ${height}"
    width="${width}"
    height="${height}"
    role="img"
    aria-label="steps in dependency order: ${order.map((s) => `${s} ${status(s)}`).join(', ')}"
  >
    <defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto">
        <path d="M0 0 L10 5 L0 10 z" class="arrow" />
      </marker>
    </defs>
    ${edges}${nodes}
  </svg>`;
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
