/**
 * The page's live updates (src/web/watch.ts), on fake timers: one read per interval for a workflow however many tabs
 * watch it, only changed regions sent, no reads while nobody listens, none once the workflow has closed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { html } from '../../src/web/html';
import { Hub, Watch, type Listener } from '../../src/web/watch';

function source() {
  const s = {
    reads: 0,
    value: { a: 'one', b: 'two' },
    isClosed: false,
    /** the next read finds the workflow closed (a source learns it by reading) */
    closing: false,
    read: async () => {
      s.reads++;
      if (s.closing) s.isClosed = true;
      return { ...s.value };
    },
    closed: () => s.isClosed,
  };
  return s;
}
const render = (v: { a: string; b: string }) => ({ a: html`${v.a}`, b: html`${v.b}` });

function tab(): Listener & { events: [string, unknown][] } {
  const events: [string, unknown][] = [];
  return { events, send: (event, data) => void events.push([event, JSON.parse(data)]) };
}

describe('Watch', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reads once per interval however many tabs listen, and sends only what changed', async () => {
    const s = source();
    const watch = new Watch(s, render, 1_000);
    await watch.current();
    const tabs = Array.from({ length: 50 }, tab);
    const stops = tabs.map((t) => watch.subscribe(t));
    expect(s.reads).toBe(1);
    // every tab got every region at once
    for (const t of tabs) expect(t.events).toEqual([['regions', { a: 'one', b: 'two' }]]);
    s.value.b = 'three';
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.reads).toBe(11);
    for (const t of tabs) expect(t.events.slice(1)).toEqual([['regions', { b: 'three' }]]);
    // nobody listens: no more reads
    for (const stop of stops) stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.reads).toBeLessThanOrEqual(12);
    const after = s.reads;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.reads).toBe(after);
  });

  it('stops reading once the workflow has closed, and tells the tabs', async () => {
    const s = source();
    const watch = new Watch(s, render, 1_000);
    const t = tab();
    watch.subscribe(t);
    await vi.advanceTimersByTimeAsync(2_000);
    s.closing = true;
    s.value.a = 'done';
    await vi.advanceTimersByTimeAsync(1_000);
    const reads = s.reads;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.reads).toBe(reads);
    expect(t.events.at(-1)).toEqual(['closed', {}]);
    // a tab that comes later gets the final regions and `closed`, and causes no read
    const late = tab();
    watch.subscribe(late);
    await watch.current();
    expect(late.events).toEqual([
      ['regions', { a: 'done', b: 'two' }],
      ['closed', {}],
    ]);
    expect(s.reads).toBe(reads);
  });

  it('shares concurrent reads', async () => {
    const s = source();
    const watch = new Watch(s, render, 1_000);
    await Promise.all([watch.current(), watch.current(), watch.current()]);
    expect(s.reads).toBe(1);
  });
});

describe('Watch of a followed source', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function followed() {
    const s = Object.assign(source(), { following: 0, changed: (): void => undefined });
    return Object.assign(s, {
      follow(changed: () => void) {
        s.following++;
        s.changed = changed;
        return () => void s.following--;
      },
    });
  }

  it('reads when the source says it changed, at most once per 500 ms, and every 30 s without news', async () => {
    const s = followed();
    const watch = new Watch(s, render, 500);
    await watch.current();
    const stop = watch.subscribe(tab());
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.reads).toBe(1); // nothing changed: no read
    expect(s.following).toBe(1);
    s.changed();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.reads).toBe(2); // at once (the last read was long ago)
    for (let i = 0; i < 20; i++) {
      s.changed();
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(s.reads).toBe(4); // 1 s of changes every 50 ms: a read per 500 ms
    await vi.advanceTimersByTimeAsync(30_000);
    expect(s.reads).toBe(5); // then nothing for 30 s: the backstop read
    stop();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.following).toBe(0); // nobody listens: not followed any more
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.reads).toBe(5);
  });
});

describe('Hub', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('keeps one Watch per key and forgets idle ones', async () => {
    const hub = new Hub(60_000);
    let made = 0;
    const make = () => {
      made++;
      return new Watch(source(), render, 1_000);
    };
    const w = hub.get('pipeline:x', make);
    expect(hub.get('pipeline:x', make)).toBe(w);
    const stop = w.subscribe(tab());
    expect(hub.active()).toBe(1);
    stop();
    hub.sweep(Date.now() + 61_000);
    hub.get('pipeline:x', make);
    expect(made).toBe(2);
    hub.close();
  });
});
