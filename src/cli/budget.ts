/**
 * `run`/`start` budget flags: `--max-cost USD` with the model's price, `--price USD_PER_SECOND` or `--prices FILE`
 * (a YAML or JSON mapping model -> USD per second of predict_time, the format of a pipeline spec's `prices:`,
 * checked by the same code). Replicate has no price API, so the price always comes from the user.
 */
import { parse } from 'yaml';
import { yamlNestsDeeperThan } from '../client/yaml-depth';
import { priceOf } from '../shared/budget';
import { checkPrices, type SpecError } from '../shared/pipeline';
import type { CliContext } from './context';
import { UsageError } from './usage';

export const BUDGET_OPTIONS = {
  'max-cost': { type: 'string' },
  price: { type: 'string' },
  prices: { type: 'string' },
} as const;

/** The request fields for the budget flags: both maxCostUsd and pricePerSecondUsd, or neither. */
export function parseBudgetFlags(
  values: { 'max-cost'?: string; price?: string; prices?: string },
  model: string,
  ctx: CliContext,
  command: string,
): { maxCostUsd?: number; pricePerSecondUsd?: number } {
  const { 'max-cost': maxCost, price, prices } = values;
  if (maxCost === undefined && price === undefined && prices === undefined) return {};
  if (price !== undefined && prices !== undefined)
    throw new UsageError('give the price once: --price USD_PER_SECOND or --prices FILE, not both', command);
  if (maxCost === undefined)
    throw new UsageError(
      `--${price !== undefined ? 'price' : 'prices'} is only used with --max-cost USD (the run's budget)`,
      command,
    );
  const maxCostUsd = positive(maxCost, '--max-cost', 'USD, e.g. --max-cost 0.50', command);
  if (price === undefined && prices === undefined)
    throw new UsageError(
      `--max-cost needs the model's price: --price USD_PER_SECOND (of predict_time) or --prices FILE; Replicate has no price API`,
      command,
    );
  const pricePerSecondUsd =
    price !== undefined
      ? positive(price, '--price', 'USD per second of predict_time, e.g. --price 0.000725', command)
      : priceFromFile(prices!, model, ctx, command);
  return { maxCostUsd, pricePerSecondUsd };
}

function positive(text: string, flag: string, what: string, command: string): number {
  const n = Number(text.trim().replace(/^\$/, ''));
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag}: "${text}" is not a positive number of ${what}`, command);
  return n;
}

function priceFromFile(file: string, model: string, ctx: CliContext, command: string): number {
  if (!ctx.readFile) throw new UsageError('--prices FILE is not supported here', command);
  let raw: unknown;
  try {
    const text = ctx.readFile(file);
    // a prices file is a flat mapping: anything deep is refused before the YAML parser recurses into it
    if (yamlNestsDeeperThan(text, 8)) throw new Error('nested too deep for a mapping of model -> price');
    raw = parse(text);
  } catch (error) {
    throw new UsageError(
      `--prices: cannot read ${file}: ${(error as Error).message.split('\n')[0]}`,
      command,
    );
  }
  const errors: SpecError[] = [];
  const prices = checkPrices(raw, '--prices', (path, message) => errors.push({ path, message }));
  if (errors.length > 0 || prices === undefined)
    throw new UsageError(
      `${file}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ') || 'empty; expected a mapping such as {"owner/model": 0.000725}'}`,
      command,
    );
  const p = priceOf(prices, model);
  if (p === undefined || p <= 0)
    throw new UsageError(
      `${file} has no ${p === 0 ? 'positive ' : ''}price for ${model}; add "${model.split(':')[0]}: USD_PER_SECOND" to it or pass --price`,
      command,
    );
  return p;
}
