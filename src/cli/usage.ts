/** Each command's usage and help, and parsing flags with usage errors that suggest what was meant. */
import { parseArgs } from 'node:util';
import { RECONCILE_SCHEDULE_ID } from '../client/temporal-setup';
import { CLI_COMMAND } from '../dev/commands';
import { WORKER_HELP } from '../worker/usage';

/** How every message invokes the CLI: `npx replicate-temporal` from the package, `npm run -s client --` here. */
export const CLI = CLI_COMMAND;

const RUN_FLAGS = `  --model REF        owner/name, owner/name:<version>, a version id, or with --deployment a deployment owner/name
  --input JSON       the model input object, e.g. '{"prompt": "a lighthouse at dusk"}', or @file.json
  --deployment       REF names a deployment
  --timeout 10m      the ceiling (10s to 168h): Replicate stops the job by itself then
  --workflow-id ID   your own id (default prediction-<model>-<random>)
  --max-cost USD     the run's budget: at price x running time (from Replicate's started_at) the job is canceled
                     and the run fails with BudgetExceeded; needs the model's price:
  --price USD        USD per second of predict_time (Replicate has no price API)
  --prices FILE      or a YAML/JSON mapping model -> USD per second (a pipeline spec's prices: format)
  --cache            reuse an earlier kept result of the same model and input instead of paying (default off)
  --no-persist       do not keep the output files in the worker's output store (kept by default)
  --json             print exactly one JSON object`;

/** Each command's usage line(s) and what its flags mean: `<command> --help`, and the line a usage error shows. */
export const COMMANDS: Record<string, { usage: string[]; help: string }> = {
  run: {
    usage: [
      'run --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--max-cost USD --price USD | --prices FILE] [--cache] [--no-persist] [--json]',
    ],
    help: `Run one prediction and wait for it, showing its progress, then print the output.\n${RUN_FLAGS}`,
  },
  start: {
    usage: [
      'start --model REF --input JSON [--deployment] [--timeout 10m] [--workflow-id ID] [--max-cost USD --price USD | --prices FILE] [--cache] [--no-persist] [--json]',
    ],
    help: `Start one prediction and print its workflow id (then: result, status or cancel ID).\n${RUN_FLAGS}`,
  },
  status: {
    usage: ['status ID [--json]'],
    help: 'The live state of a run: status, prediction, polls, logs; with --max-cost its running cost and budget left.',
  },
  result: {
    usage: ['result ID [--json]'],
    help: 'Wait for a run (showing its progress) and print its outcome.',
  },
  cancel: {
    usage: ['cancel ID [--json]'],
    help: 'Cancel a run and its prediction at Replicate, and wait for it to end.',
  },
  'pipeline run': {
    usage: [
      'pipeline run FILE [--input KEY=VALUE ...] [--pipeline-id ID] [--timeout 30m] [--cache | --no-cache] [--json]',
    ],
    help: `Run a multi-step pipeline from a YAML or JSON spec (see examples/) and wait for it.
  --input KEY=VALUE  override one of the spec's inputs (repeatable; VALUE may be JSON)
  --pipeline-id ID   your own id (default pipeline-<name>-<random>); also the folder of its outputs
  --timeout 30m      the ceiling for the whole pipeline (10s to 168h; default the spec's timeout or 30m)
  --cache            reuse earlier identical results for every step (the result cache); --no-cache: for none
                     (default: each step's or the spec's cache:, off unless set)
  --json             print exactly one JSON object`,
  },
  'pipeline rerun': {
    usage: [
      'pipeline rerun ID [--from STEP] [--spec FILE] [--input KEY=VALUE ...] [--pipeline-id NEW] [--timeout 30m] [--json]',
    ],
    help: `Run pipeline ID again (failed, canceled or succeeded), paying only for what runs anew: every step before
STEP (default: every step that succeeded and whose request is unchanged) reuses the earlier run's kept results,
files and manifest entries, with no prediction created; the report marks them reused.
  --from STEP        run STEP and the steps after it anew (default: what failed, changed or never ran)
  --spec FILE        an edited spec (default the earlier run's)
  --input KEY=VALUE  change one of the earlier run's inputs (repeatable; VALUE may be JSON)
  --pipeline-id NEW  the new run's id (default pipeline-<name>-<random>)
  --timeout 30m      its ceiling (default the earlier run's)
  --json             print exactly one JSON object`,
  },
  'pipeline approve': {
    usage: ['pipeline approve ID STEP [--reject] [--reason TEXT] [--json]'],
    help: `Decide an approval step of pipeline ID that waits for one (pipeline status ID shows it): approve it (the
pipeline goes on) or, with --reject, reject it (the step fails). Recorded with who (your user name), when and why.
  --reject           reject instead of approving
  --reason TEXT      why, for the report
  --json             print exactly one JSON object`,
  },
  'pipeline status': {
    usage: ['pipeline status ID [--json]'],
    help: "A pipeline's steps: status, prediction ids, elapsed time, reused results, what waits for a decision (and the command that decides); with a budget the spend and the budget left.",
  },
  reconcile: {
    usage: [
      'reconcile [--apply] [--lookback 60m] [--grace 2m] [--json]',
      'reconcile --schedule 10m [--apply] [--lookback 60m] [--grace 2m] | --unschedule',
    ],
    help: `Find predictions no running workflow owns (orphans) and, with --apply, cancel them.
  --apply            cancel the orphans (default: report only)
  --lookback 60m     how far back to list jobs
  --grace 2m         ignore jobs younger than this
  --schedule 10m     run it on a Temporal Schedule (${RECONCILE_SCHEDULE_ID}); --unschedule deletes it`,
  },
  worker: {
    usage: ['worker'],
    help: WORKER_HELP,
  },
};
COMMANDS['codec-server'] = {
  usage: ['codec-server'],
  help: `Serve Temporal's remote codec endpoint (POST /decode, /encode) with ENCRYPTION_KEY, so the Temporal CLI
(--codec-endpoint) and UI (its Codec Server setting) show this deployment's payloads in clear; see docs/encryption.md.
  CODEC_PORT         default 8888
  CODEC_HOST         default 127.0.0.1; any other address needs CODEC_AUTH_TOKEN
  CODEC_AUTH_TOKEN   requests must carry Authorization: Bearer <it> (at least 16 characters)
  CODEC_CORS_ORIGIN  the Temporal UI's origin(s) browsers may call from, e.g. http://localhost:8233`,
};
COMMANDS.web = {
  usage: ['web'],
  help: `Serve a page to watch and browse runs and pipelines: live status, logs, outputs, cancel (docs/web.md).
  WEB_PORT           default 8080
  WEB_HOST           default 127.0.0.1; any other address needs WEB_AUTH_TOKEN
  WEB_AUTH_TOKEN     a bearer token, or the sign-in form's password (at least 16 characters)
  TEMPORAL_UI_URL    links to the Temporal UI (default: the frontend's port + 1000 on this machine)
  OUTPUT_DIR / OUTPUT_URL  the output store the workers keep files in (the page shows them from there)`,
};
COMMANDS.pipeline = {
  usage: [
    ...COMMANDS['pipeline run']!.usage,
    ...COMMANDS['pipeline status']!.usage,
    ...COMMANDS['pipeline rerun']!.usage,
    ...COMMANDS['pipeline approve']!.usage,
  ],
  help: 'Multi-step pipelines: pipeline run FILE, pipeline status ID, pipeline rerun ID, pipeline approve ID STEP (each with --help).',
};

export const USAGE = `usage: ${CLI} <command> [flags]        (${CLI} <command> --help: its flags)
${[
  'run',
  'start',
  'status',
  'result',
  'cancel',
  'pipeline run',
  'pipeline status',
  'pipeline rerun',
  'pipeline approve',
  'reconcile',
  'codec-server',
  'web',
  'worker',
]
  .flatMap((name) => COMMANDS[name]!.usage)
  .map((line) => `  ${CLI} ${line}`)
  .join('\n')}
REF is owner/name, owner/name:<version>, a version id, or with --deployment a deployment owner/name.
JSON is the model input object, e.g. '{"prompt": "a lighthouse at dusk"}', or @file.json.`;

/** `<command> --help`: its usage lines and what its flags mean. */
export function commandHelp(name: string): string {
  const command = COMMANDS[name]!;
  return `usage: ${command.usage.map((line) => `${CLI} ${line}`).join('\n       ')}\n${command.help}`;
}

/** What follows a usage error: the command's usage lines (or where to find the commands). */
export function usageAfterError(command: string | undefined): string {
  return command
    ? `usage: ${COMMANDS[command]!.usage.map((line) => `${CLI} ${line}`).join('\n       ')}\n` +
        `(${CLI} ${command} --help explains the flags)`
    : `usage: ${CLI} <command> [flags]; ${CLI} --help lists the commands`;
}

export const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

/** A usage error; `command` picks the usage line shown with it. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs for `command`, turning its errors into usage errors ("did you mean" for unknown flags). */
export function parseFor<T extends Options>(
  command: string,
  args: string[],
  options: T,
  allowPositionals: boolean,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: boolean }>> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    const unknown = /Unknown option '([^']+)'/.exec(error.message)?.[1];
    if (unknown) {
      const guess = closest(
        unknown.replace(/^-+/, ''),
        Object.keys(options ?? {}).filter((name) => name !== 'help'),
      );
      throw new UsageError(`unknown option ${unknown}${guess ? `; did you mean --${guess}?` : ''}`, command);
    }
    throw new UsageError(error.message, command);
  }
}

/** The candidate within a small edit distance of `word` (typos, transpositions, a missing dash), if any. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(word.toLowerCase(), name.toLowerCase());
    if (distance <= (name.length >= 4 ? 2 : 1) && (!best || distance < best.distance))
      best = { name, distance };
  }
  return best?.name;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  return d[a.length]![b.length]!;
}

function isParseArgsError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof TypeError && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}
