/**
 * The `prices` mapping (model -> USD per second of predict_time) and the `budget: { usd }` of a pipeline spec;
 * `prices` is also the format of the CLI's `--prices FILE`. Every problem at the path of its field.
 */
import { estimateCost, priceEntry } from './cost';
import { describeType, describeValue, isPlainObject, type Report } from './helpers';
import type { StepSpec } from './spec';

/** A `prices` mapping: each value a non-negative number (USD per second); undefined when absent or malformed. */
export function checkPrices(raw: unknown, path: string, err: Report): Record<string, number> | undefined {
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) {
    err(path, `must be a mapping of model to USD per second, got ${describeType(raw)}`);
    return undefined;
  }
  const prices: Record<string, number> = {};
  for (const [model, price] of Object.entries(raw)) {
    if (typeof price !== 'number' || !Number.isFinite(price) || price < 0) {
      err(`${path}.${model}`, `must be a non-negative number (USD per second), got ${describeValue(price)}`);
    } else {
      prices[model] = price;
    }
  }
  return prices;
}

/**
 * `budget: { usd: N }`: a positive amount, and a price in `prices` for every step's model (or deployment), since
 * the budget is enforced on price × running time.
 */
export function checkBudget(
  raw: unknown,
  prices: Record<string, number> | undefined,
  steps: Record<string, StepSpec>,
  err: Report,
): { usd: number } | undefined {
  if (raw === undefined) return undefined;
  if (!isPlainObject(raw)) {
    err('budget', `must be a mapping such as { usd: 5 }, got ${describeType(raw)}`);
    return undefined;
  }
  for (const key of Object.keys(raw))
    if (key !== 'usd') err(`budget.${key}`, 'unknown field; a budget is { usd: N } (USD for the whole run)');
  const amount = raw.usd;
  if (typeof amount !== 'number' || !Number.isFinite(amount) || amount <= 0) {
    err('budget.usd', `must be a positive number of USD, got ${describeValue(amount)}`);
    return undefined;
  }
  const missing = [
    ...new Set(
      Object.values(steps)
        .map((s) => s.model ?? s.deployment)
        .filter((m): m is string => m !== undefined && estimateCost(prices, m, 1) === undefined),
    ),
  ];
  for (const model of missing)
    err(
      `prices.${model}`,
      `missing: the budget is enforced on price × running time, so every model needs a price (USD per second of predict_time)`,
    );
  // a free model's jobs never count toward the budget: with one, the budget would silently not hold
  const free = new Set(
    Object.values(steps)
      .map((s) => s.model ?? s.deployment)
      .map((m) => (m !== undefined && prices ? priceEntry(prices, m) : undefined))
      .filter((e) => e?.price === 0)
      .map((e) => e!.key),
  );
  for (const key of free)
    err(
      `prices.${key}`,
      `0 with a budget: its jobs would never count toward the budget, so the budget would not hold; give the model's real price (USD per second of predict_time, as --price refuses 0) or remove the budget`,
    );
  return { usd: amount };
}
