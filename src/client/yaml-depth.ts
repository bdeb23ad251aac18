/**
 * How deeply a YAML text nests, estimated from its tokens before anything is parsed: the `yaml` package's parser
 * and composer recurse per level (a few thousand levels overflow the stack, tens of thousands exhaust the heap and
 * abort the process), its lexer does not. Deliberately ours: no YAML library offers a depth limit.
 *
 * Block collections are tracked by their columns (a sequence item `-`, a mapping key followed by `:`, an explicit
 * key `?`), flow collections by their brackets; quoted and block scalars are single tokens, so their text never
 * counts. The estimate is exact on ordinary YAML and never below the real depth.
 */
import { CST, Lexer } from 'yaml';

interface Level {
  column: number;
  kind: 'seq' | 'map';
}

/** Whether any collection in `text` nests deeper than `limit` levels (stops at the first one). */
export function yamlNestsDeeperThan(text: string, limit: number): boolean {
  const stack: Level[] = [];
  const top = (): Level | undefined => stack[stack.length - 1];
  const open = (column: number, kind: Level['kind']): void => {
    if (top()?.column !== column || top()?.kind !== kind) stack.push({ column, kind });
  };
  let flow = 0;
  let column = 0;
  let lineStart = true;
  /** where the current block node (a mapping key) starts; -1 = not yet seen */
  let nodeStart = -1;
  for (const source of new Lexer().lex(text)) {
    const type = CST.tokenType(source);
    if (type === 'newline') {
      column = 0;
      lineStart = true;
      continue;
    }
    if (source.length === 1 && source.charCodeAt(0) < 0x20) continue; // the lexer's zero-width markers
    const at = column;
    column += source.length;
    if (type === 'space' || type === 'comment') continue;
    if (lineStart && flow === 0) {
      // a line closes every block collection at or right of its indentation; a `-` may sit at its key's column
      const item = type === 'seq-item-ind';
      while (stack.length > 0 && (top()!.column > at || (top()!.column === at && !item))) stack.pop();
    }
    if (lineStart || nodeStart < 0) nodeStart = at;
    lineStart = false;
    if (type === 'flow-map-start' || type === 'flow-seq-start') flow++;
    else if (type === 'flow-map-end' || type === 'flow-seq-end') flow = Math.max(0, flow - 1);
    else if (flow === 0 && type === 'seq-item-ind') {
      open(at, 'seq');
      nodeStart = -1;
    } else if (flow === 0 && (type === 'map-value-ind' || type === 'explicit-key-ind')) {
      open(type === 'explicit-key-ind' ? at : nodeStart, 'map');
      nodeStart = -1;
    }
    if (stack.length + flow > limit) return true;
  }
  return false;
}
