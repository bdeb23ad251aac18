/** What every configuration reader shares: the environment's shape and the one-line error it throws. */
export type Env = Record<string, string | undefined>;

/** A configuration problem, explained in one line. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
