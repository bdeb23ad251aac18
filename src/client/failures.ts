/** How a closed run's failure reads in an outcome object. */

/**
 * A run's final failure can carry its last attempt's words ("...; will retry"): the run has given up, so say that
 * instead.
 */
export function gaveUp(message: string): string {
  const final = message.replace(/;\s*(will retry|retrying in [^;]*)\s*$/i, '');
  return final === message ? message : `${final}; gave up (no attempts or time left)`;
}
