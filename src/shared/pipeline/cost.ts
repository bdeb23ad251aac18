/** Cost estimates from a spec's `prices`. */

/**
 * Estimated USD of one prediction: `predictTimeSeconds` × the price of `model` (looked up as written, then without
 * its `:version`); undefined when there is no price for it or no usable time. Sum it over a step's predictions.
 */
export function estimateCost(
  prices: Record<string, number> | undefined,
  model: string,
  predictTimeSeconds: number,
): number | undefined {
  if (prices === undefined || !Number.isFinite(predictTimeSeconds) || predictTimeSeconds < 0)
    return undefined;
  const entry = priceEntry(prices, model);
  return entry === undefined ? undefined : entry.price * predictTimeSeconds;
}

/** The `prices` entry that applies to `model` (as written, else without its `:version`), or undefined. */
export function priceEntry(
  prices: Record<string, number>,
  model: string,
): { key: string; price: number } | undefined {
  for (const key of model.includes(':') ? [model, model.slice(0, model.indexOf(':'))] : [model])
    if (Object.hasOwn(prices, key)) return { key, price: prices[key]! };
  return undefined;
}
