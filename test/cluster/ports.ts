// Ports for the cluster tests: each test picks a frontend port whose derived ports are all free now, below
// Linux's ephemeral range (32768-60999), where outgoing connections could take a port meanwhile.
import { isPortFree } from '../../src/dev/dev-server';
import { portsFrom } from '../../scripts/cluster/layout';

/** A frontend port in [from, from + slots × 50) whose server, PostgreSQL, UI and receiver ports are free. */
export async function freeClusterPort(from: number, slots: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * slots) * 50;
    const p = portsFrom(base);
    const all = [
      p.frontend,
      p.frontendHttp,
      p.history,
      p.matching,
      p.worker,
      p.postgres,
      p.webhooks,
      p.codec,
      p.ui,
    ];
    if ((await Promise.all([...all, ...Object.values(p.membership)].map(isPortFree))).every(Boolean))
      return base;
  }
  throw new Error('no free port range for the cluster');
}
