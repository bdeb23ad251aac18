/** Reading pipeline spec files (YAML or JSON) for the CLI. The validation itself is in src/shared/pipeline/. */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import {
  PipelineSpecError,
  validatePipelineSpec,
  type PipelineSpec,
  type SpecError,
} from '../shared/pipeline';
import { RESERVED_INPUT_NAMES, reservedInputName } from '../shared/pipeline/helpers';
import { MAX_INPUT_DEPTH } from '../shared/depth';
import { yamlNestsDeeperThan } from './yaml-depth';

/**
 * Read, parse and validate the spec at `path`: `.json` is parsed as JSON, anything else (`.yaml`, `.yml`, no or
 * another extension) as YAML, which also reads JSON. Throws PipelineSpecError with every problem: an unreadable
 * file or a syntax error (with line and column) at path '(file)', else the validation errors.
 */
export function loadPipelineFile(path: string, inputOverrides?: Record<string, unknown>): PipelineSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PipelineSpecError([
      { path: '(file)', message: `cannot read ${path}: ${(error as Error).message}` },
    ]);
  }
  const raw = extname(path).toLowerCase() === '.json' ? parseJson(text) : parseYaml(text);
  const result = validatePipelineSpec(raw, inputOverrides);
  if ('errors' in result) throw new PipelineSpecError(result.errors);
  return result.spec;
}

/**
 * How deep a YAML text may nest before it is parsed (./yaml-depth.ts says why): far above what a valid spec needs
 * (inputs nest at most MAX_INPUT_DEPTH levels, checked with their paths after parsing).
 */
const MAX_YAML_DEPTH = 256;

function parseYaml(text: string): unknown {
  if (yamlNestsDeeperThan(text, MAX_YAML_DEPTH)) {
    throw new PipelineSpecError([
      {
        path: '(file)',
        message: `nested more than ${MAX_YAML_DEPTH} levels deep (mappings and lists inside each other); inputs may nest ${MAX_INPUT_DEPTH} levels: flatten them, or pass deep data as file URLs`,
      },
    ]);
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const errors: SpecError[] = doc.errors.map((e) => {
      const firstLine = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      const at = e.linePos?.[0];
      const where = at ? ` at line ${at.line}, column ${at.col}` : '';
      return { path: '(file)', message: `YAML syntax error${where}: ${firstLine}` };
    });
    throw new PipelineSpecError(errors);
  }
  return doc.toJS();
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = (error as Error).message.replace(/\s+/g, ' ');
    let where = '';
    const lineCol = /line (\d+) column (\d+)/.exec(message);
    const position = /position (\d+)/.exec(message);
    if (lineCol) {
      where = ` at line ${lineCol[1]}, column ${lineCol[2]}`;
    } else if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      const col = before.length - before.lastIndexOf('\n');
      where = ` at line ${line}, column ${col}`;
    } else {
      // V8 does not always say where; the YAML parser (JSON is YAML) usually can.
      const at = parseDocument(text).errors[0]?.linePos?.[0];
      if (at) where = ` near line ${at.line}, column ${at.col}`;
    }
    throw new PipelineSpecError([{ path: '(file)', message: `JSON syntax error${where}: ${message}` }]);
  }
}

/**
 * `--input KEY=VALUE` pairs as input overrides: VALUE is parsed as JSON when it parses (`n=3` is a number,
 * `tags=["a","b"]` a list, `p="3"` the string "3"), else kept as the string it is (`prompt=a red fox`). The first
 * '=' separates key and value; a later pair for the same key wins. Throws PipelineSpecError (path '--input') naming
 * every pair without '=' or with an empty key.
 */
export function parseInputOverrides(pairs: string[]): Record<string, unknown> {
  const inputs: Record<string, unknown> = {};
  const errors: SpecError[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      const problem = eq < 0 ? "has no '='" : 'has an empty key';
      errors.push({ path: '--input', message: `"${pair}" ${problem}; write --input KEY=VALUE` });
      continue;
    }
    const name = pair.slice(0, eq).trim();
    if (RESERVED_INPUT_NAMES.includes(name)) {
      errors.push({ path: '--input', message: reservedInputName(name) });
      continue;
    }
    const value = pair.slice(eq + 1);
    let parsed: unknown = value;
    try {
      parsed = JSON.parse(value);
    } catch {
      // not JSON: keep the text
    }
    inputs[name] = parsed;
  }
  if (errors.length > 0) throw new PipelineSpecError(errors);
  return inputs;
}
