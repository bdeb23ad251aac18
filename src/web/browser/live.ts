/**
 * The page's only script (served as /assets/live.js; a plain browser script, no imports): live regions over
 * server-sent events, ages and elapsed times that count, and a confirmation before a destructive action.
 *
 * Regions arrive as HTML the server rendered with every value escaped; they are parsed in a <template> (nothing in
 * it runs) and swapped in whole, and the page's CSP allows no inline script anyway. A hidden tab closes its stream
 * (browsers allow a handful of connections per host) and reopens it when shown: the server then sends every region.
 */
(() => {
  const body = document.body;
  const source = body.dataset.live;
  const stateLine = document.querySelector<HTMLElement>('[data-live-state]');
  const csrf = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
  let events: EventSource | null = null;
  let ended = false;

  const say = (text: string) => {
    if (stateLine) stateLine.textContent = text;
  };

  const two = (n: number) => String(n).padStart(2, '0');
  const elapsed = (ms: number): string => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
    return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  };
  /** `3 min ago`, or for a moment to come (a deadline) `in 3 min` */
  const age = (ms: number): string => {
    const s = Math.floor(Math.abs(ms) / 1000);
    if (s < 5) return 'just now';
    const span =
      s < 60
        ? `${s} s`
        : s < 3600
          ? `${Math.floor(s / 60)} min`
          : s < 86400
            ? `${Math.floor(s / 3600)} h`
            : `${Math.floor(s / 86400)} d`;
    return ms < 0 ? `in ${span}` : `${span} ago`;
  };

  /** Ages and running times, from the timestamps the server wrote. */
  const tick = () => {
    const now = Date.now();
    document.querySelectorAll<HTMLTimeElement>('time[data-age]').forEach((t) => {
      const at = Date.parse(t.dateTime);
      if (Number.isNaN(at)) return;
      if (!t.title) t.title = t.textContent ?? '';
      t.textContent = age(now - at);
    });
    document.querySelectorAll<HTMLElement>('[data-since]').forEach((el) => {
      const at = Date.parse(el.dataset.since ?? '');
      if (!Number.isNaN(at)) el.textContent = elapsed(now - at);
    });
  };

  /** Forms a live update brought carry no token: they get this page's. */
  const fillTokens = (root: ParentNode) => {
    root.querySelectorAll<HTMLInputElement>('input[name="csrf"]').forEach((input) => {
      if (!input.value) input.value = csrf;
    });
  };

  const apply = (regions: Record<string, string>) => {
    for (const [id, markup] of Object.entries(regions)) {
      const el = document.getElementById(id);
      if (!el || !el.hasAttribute('data-region')) continue;
      const template = document.createElement('template');
      template.innerHTML = markup;
      el.replaceChildren(template.content);
      el.dataset.updatedAt = String(Date.now());
      fillTokens(el);
    }
    tick();
  };

  const open = () => {
    if (!source || ended || events) return;
    events = new EventSource(source);
    events.addEventListener('open', () => say('live'));
    events.addEventListener('regions', (e) => {
      apply(JSON.parse((e as MessageEvent<string>).data) as Record<string, string>);
      say('live');
    });
    events.addEventListener('closed', () => {
      ended = true;
      close();
      say('final');
    });
    events.addEventListener('error', () => {
      if (!ended) say('reconnecting…');
    });
  };
  const close = () => {
    events?.close();
    events = null;
  };

  document.addEventListener('visibilitychange', () => (document.hidden ? close() : open()));
  document.addEventListener('submit', (e) => {
    const form = e.target as HTMLFormElement;
    const question = form.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  fillTokens(document);
  tick();
  setInterval(tick, 1000);
  if (!document.hidden) open();
})();
