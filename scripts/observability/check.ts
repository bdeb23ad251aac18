/**
 * `npm run -s observability:check`: Prometheus' own checks of the deploy files, with promtool from Debian's
 * `prometheus` package (PROMTOOL_PATH overrides /usr/bin/promtool): the scrape config with its rule files
 * (`promtool check config`), and the alert unit tests of deploy/prometheus/alerts.test.yml (`promtool test rules`:
 * synthetic series in, the expected alerts with their labels and rendered texts out). The metric names and labels
 * of every expression are checked by test/observability-deploy.test.ts, which needs no promtool.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const PROMTOOL = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';
const DIR = path.join(__dirname, '..', '..', 'deploy', 'prometheus');

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`usage: npm run -s observability:check
Runs promtool (Debian's prometheus package; PROMTOOL_PATH overrides ${PROMTOOL}) over deploy/prometheus: check config
(with the alert rules), then the alerts' unit tests (alerts.test.yml). Exit 1 when a check fails.`);
  process.exit(0);
}
if (!existsSync(PROMTOOL)) {
  console.error(
    `observability:check: no promtool at ${PROMTOOL}; install it with apt-get install -y prometheus (leave the service stopped) or set PROMTOOL_PATH`,
  );
  process.exit(2);
}
let failed = false;
for (const args of [
  ['check', 'config', 'prometheus.yml'],
  ['test', 'rules', 'alerts.test.yml'],
]) {
  try {
    process.stdout.write(
      execFileSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    process.stdout.write(`${e.stdout ?? ''}${e.stderr ?? ''}`);
    console.error(`observability:check: promtool ${args.join(' ')} failed`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
