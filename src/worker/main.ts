/** `npm run worker` (and the container's CMD, `node lib/worker/main.js`): see ./command.ts. */
import { workerCommand } from './command';

void workerCommand(process.argv.slice(2)).then((code) => process.exit(code));
