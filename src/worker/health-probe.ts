/**
 * The container health check (Dockerfile HEALTHCHECK, compose): `node lib/worker/health-probe.js [/readyz|/healthz]` asks
 * this container's worker (HEALTH_PORT, see src/worker/health.ts) and exits 0 on 200, 1 otherwise with one line.
 */
const path = process.argv[2] ?? '/readyz';
const port = process.env.HEALTH_PORT?.trim();

async function main(): Promise<number> {
  if (!port || !/^\d+$/.test(port) || port === '0') {
    console.error("health-probe: HEALTH_PORT is not set to the worker's health port (e.g. 8080)");
    return 1;
  }
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    if (response.ok) return 0;
    console.error(`health-probe: ${path} answered ${response.status} ${(await response.text()).trim()}`);
  } catch (error) {
    console.error(`health-probe: no answer on port ${port} (${(error as Error).message})`);
  }
  return 1;
}

void main().then((code) => process.exit(code));
