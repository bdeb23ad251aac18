/**
 * How the user runs our commands, so that every usage line and hint names them the way this process was started:
 * from the installed package (`npx replicate-temporal ...`, the `bin` of package.json) or from a checkout of the
 * repository (`npm run ...` scripts).
 */
const script = process.argv[1] ?? '';

/** Started through the package's `bin` (node_modules/.bin/replicate-temporal, or lib/cli/main.js itself). */
export const FROM_PACKAGE = /(^|[\\/])(replicate-temporal|lib[\\/]cli[\\/]main\.js)$/.test(script);

/** The CLI: `npx replicate-temporal` from the package, `npm run -s client --` in a checkout. */
export const CLI_COMMAND = FROM_PACKAGE ? 'npx replicate-temporal' : 'npm run -s client --';

/** The worker: `npx replicate-temporal worker` from the package, `npm run worker` in a checkout. */
export const WORKER_COMMAND = FROM_PACKAGE ? 'npx replicate-temporal worker' : 'npm run worker';
