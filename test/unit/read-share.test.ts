/** A worker's share of the fleet's local reads (src/worker/read-share.ts), on a fake clock and a fake poller list. */
import { afterEach, describe, expect, it } from 'vitest';
import { FleetReadShare, MAX_RESERVATION_MS } from '../../src/worker/read-share';

const P = 5_000;
const shares: FleetReadShare[] = [];
afterEach(() => shares.splice(0).forEach((s) => s.stop()));

function share(pollers: () => string[], fleetPerMinute = 1_200) {
  const clock = { t: 1_000_000 };
  const s = new FleetReadShare({
    fleetPerMinute,
    identity: 'me@host',
    listPollers: async () => pollers(),
    refreshMs: P,
    now: () => clock.t,
  });
  shares.push(s);
  return { s, clock };
}

/** A share listed with `pollers` and counted by them (one refresh after it saw itself). */
async function counted(pollers: () => string[], fleetPerMinute = 1_200) {
  const made = share(pollers, fleetPerMinute);
  await made.s.refresh();
  made.clock.t += P;
  await made.s.refresh();
  return made;
}

/**
 * Polls as fast as one every `everyMs`, each waiting as its grant says (a reserved read happens when its wait is
 * over); the times reads were made.
 */
function drain(s: FleetReadShare, clock: { t: number }, forMs: number, everyMs = 10): number[] {
  const reads: number[] = [];
  for (const end = clock.t + forMs; clock.t < end; clock.t += everyMs) {
    const g = s.grant();
    if ('now' in g) reads.push(clock.t);
    else if ('waitMs' in g && g.reserved) reads.push(clock.t + g.waitMs);
  }
  return reads.sort((a, b) => a - b);
}

function busiestMinute(times: number[]): number {
  let best = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while (times[hi]! - times[lo]! >= 60_000) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

describe('FleetReadShare', () => {
  it('makes polls wait until the others can have counted this worker: one refresh after it saw itself listed', async () => {
    const { s, clock } = share(() => ['me@host']);
    expect(s.grant()).toEqual({ waitMs: P, reserved: false }); // not listed yet
    await s.refresh();
    expect(s.grant()).toEqual({ waitMs: P, reserved: false });
    clock.t += P - 1;
    expect(s.grant()).toEqual({ waitMs: 1, reserved: false });
    clock.t += 1;
    expect(s.grant()).toEqual({ now: true });
  });

  it('splits the budget among the listed workers; no 60 s window holds more reads than the share', async () => {
    const { s, clock } = await counted(() => ['me@host', 'other@host']);
    expect(s.state()).toEqual({ workers: 2, perMinute: 600, active: true });
    const reads: number[] = [];
    for (let i = 0; i < 6; i++) {
      reads.push(...drain(s, clock, 20_000));
      await s.refresh(); // keeps the list fresh
    }
    expect(busiestMinute(reads)).toBeLessThanOrEqual(600);
    expect(busiestMinute(reads)).toBeGreaterThan(590);
    // free until it binds: the share's 600 reads as fast as they were asked (one every 10 ms); a 5 s token bucket,
    // before, granted 50 at once and then one every 109 ms
    expect(reads[599]! - reads[0]!).toBe(5_990);
  });

  it('grants every read at once while the last 60 s hold fewer than the share', async () => {
    const { s, clock } = await counted(() => ['me@host'], 600);
    // 590 reads a minute, in bursts of 59 every 6 s: under the share, never a wait
    for (let burst = 0; burst < 30; burst++, clock.t += 6_000) {
      await s.refresh(); // keeps the list fresh
      for (let i = 0; i < 59; i++) expect(s.grant()).toEqual({ now: true });
    }
  });

  it('reserves the next reads when the share is spent, at most 30 s ahead', async () => {
    const { s, clock } = await counted(() => ['me@host'], 60);
    const start = clock.t;
    // 60 reads in the first 40 s (one every 2/3 s): the window is full
    for (let i = 0; i < 60; i++) {
      clock.t = start + Math.round((i * 2_000) / 3);
      if (i % 10 === 0) await s.refresh(); // keeps the list fresh
      expect(s.grant()).toEqual({ now: true });
    }
    clock.t = start + 40_000;
    await s.refresh();
    const waits: number[] = [];
    for (let i = 0; i < 40; i++) {
      const g = s.grant();
      if (!('waitMs' in g)) throw new Error('expected a wait');
      if (!g.reserved) {
        expect(g.waitMs).toBe(MAX_RESERVATION_MS);
        break;
      }
      waits.push(g.waitMs);
    }
    // each 60 s after the read it replaces (20 s, 20.67 s, …), as far as 30 s ahead: the reads of the first 10 s
    expect(waits[0]).toBe(20_000);
    expect(waits[1]).toBe(20_667);
    expect(waits).toHaveLength(16);
    expect(waits.at(-1)).toBeLessThanOrEqual(MAX_RESERVATION_MS);
  });

  it('counts itself when the list shows it under another name, and waits six refreshes before granting', async () => {
    const { s, clock } = share(() => ['set-1@q', 'set-2@q']);
    await s.refresh();
    expect(s.state().workers).toBe(3);
    clock.t += 5 * P;
    await s.refresh();
    expect('waitMs' in s.grant()).toBe(true);
    clock.t += P;
    await s.refresh();
    expect(s.grant()).toEqual({ now: true });
    expect(s.state().perMinute).toBe(400);
  });

  it('sends polls to the reads queue once the list could not be read for three refreshes', async () => {
    let down = false;
    const { s, clock } = await counted(() => {
      if (down) throw new Error('unavailable');
      return ['me@host'];
    });
    expect(s.grant()).toEqual({ now: true });
    down = true;
    clock.t += 3 * P;
    await s.refresh();
    expect(s.grant()).toEqual({ now: true });
    clock.t += 1;
    expect(s.grant()).toEqual({ queue: true });
    down = false;
    await s.refresh();
    expect(s.grant()).toEqual({ now: true });
  });

  it('shrinks when workers join: the bucket never holds more than the new share allows', async () => {
    let pollers = ['me@host'];
    const { s, clock } = await counted(() => pollers, 120);
    expect(s.state().perMinute).toBe(120);
    expect(s.grant()).toEqual({ now: true }); // the bucket holds 10 (five seconds of 120 a minute), 9 left
    pollers = ['me@host', 'b@host', 'c@host', 'd@host'];
    await s.refresh();
    expect(s.state().perMinute).toBe(30);
    const reads = drain(s, clock, 60_000).filter((t) => t < clock.t);
    expect(reads.length).toBeLessThanOrEqual(30);
  });
});
