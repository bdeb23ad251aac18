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
  const lookup = (key: string): number | undefined => (Object.hasOwn(prices, key) ? prices[key] : undefined);
  const price =
    lookup(model) ?? (model.includes(':') ? lookup(model.slice(0, model.indexOf(':'))) : undefined);
  return price === undefined ? undefined : price * predictTimeSeconds;
}
