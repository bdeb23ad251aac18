/**
 * Outputs shown as what they are: a file the workers kept in the output store as an image, a video or audio
 * player, or a link; text as text; anything else as JSON folded in a <details>. A file URL nobody kept (Replicate
 * deletes its files after about an hour) is never linked or loaded: it says "not kept". Every value a model
 * returned goes through `html`, which escapes it: a `<script>` in an output is shown, never run.
 */
import type { ManifestEntry } from '../../activities/outputs';
import { fileUrls } from '../../activities/output-files/persist';
import { isClaimRef } from '../../shared/claims';
import { fileHref } from '../files';
import { html, type Html } from '../html';

/** What rendering needs from the page: its base path, and where a manifest entry's object is in the store. */
export interface OutputContext {
  basePath: string;
  keyOf(entry: ManifestEntry): string;
}

/** Longest text shown inline; the rest is cut with a note. */
const MAX_TEXT = 20_000;

/** The entry kept for `url`: data: URLs are recorded cut to their first 40 characters and '...'. */
function entryFor(url: string, entries: ManifestEntry[]): ManifestEntry | undefined {
  return entries.find(
    (e) =>
      e.sourceUrl === url ||
      (url.startsWith('data:') && e.sourceUrl.endsWith('...') && url.startsWith(e.sourceUrl.slice(0, -3))),
  );
}

/** One kept file, drawn by its stored type. */
export function keptFile(entry: ManifestEntry, label: string, ctx: OutputContext): Html {
  const href = fileHref(ctx.basePath, ctx.keyOf(entry));
  const type = entry.contentType ?? 'application/octet-stream';
  const caption = html`<figcaption>
    <a href="${href}">${entry.path}</a> <span class="muted">${type}, ${size(entry.bytes)}</span>
  </figcaption>`;
  if (type.startsWith('image/'))
    return html`<figure class="file">
      <a href="${href}"><img src="${href}" alt="${label}" loading="lazy" /></a>${caption}
    </figure>`;
  if (type.startsWith('video/'))
    return html`<figure class="file">
      <video controls preload="metadata" src="${href}" aria-label="${label}"></video>${caption}
    </figure>`;
  if (type.startsWith('audio/'))
    return html`<figure class="file">
      <audio controls preload="metadata" src="${href}" aria-label="${label}"></audio>${caption}
    </figure>`;
  return html`<figure class="file">${caption}</figure>`;
}

/** A small picture of a kept image, for lists. */
export function thumbnail(entry: ManifestEntry, label: string, ctx: OutputContext): Html {
  const href = fileHref(ctx.basePath, ctx.keyOf(entry));
  return html`<img class="thumb" src="${href}" alt="${label}" loading="lazy" width="64" height="64" />`;
}

function notKept(url: string): Html {
  const shown = url.startsWith('data:') ? `${url.slice(0, 40)}...` : url;
  return html`<p class="not-kept">
    <span class="badge s-not-kept">not kept</span> <span class="muted">${shown}</span>
  </p>`;
}

function text(value: string): Html {
  const cut = value.length > MAX_TEXT;
  return html`<pre class="text">${cut ? value.slice(0, MAX_TEXT) : value}</pre>
    ${cut ? html`<p class="muted">(${value.length - MAX_TEXT} more characters not shown)</p>` : ''}`;
}

function json(value: unknown): Html {
  const t = JSON.stringify(value, null, 2) ?? String(value);
  return html`<details class="json">
    <summary>JSON, ${size(Buffer.byteLength(t))}</summary>
    ${text(t)}
  </details>`;
}

/** One output value: a file (kept or not), text, or JSON (with the files it names drawn below it). */
export function outputValue(
  value: unknown,
  label: string,
  entries: ManifestEntry[],
  ctx: OutputContext,
): Html {
  if (typeof value === 'string') {
    if (/^(https?:|data:)/.test(value)) {
      const entry = entryFor(value, entries);
      return entry ? keptFile(entry, label, ctx) : notKept(value);
    }
    return text(value);
  }
  if (isClaimRef(value))
    return html`<p class="muted">
      A large output (${size(value.bytes)}) kept out of band in the output store's claim checks; read it with
      the CLI (<code>result ID --json</code>).
    </p>`;
  if (typeof value !== 'object' || value === null) return text(String(value));
  const urls = fileUrls(value);
  return html`${json(value)}${urls.map((url, i) => {
    const entry = entryFor(url, entries);
    return entry ? keptFile(entry, `${label}, file ${i + 1}`, ctx) : notKept(url);
  })}`;
}

/** A list of outputs with the files kept from them; kept files no output names are listed after them. */
export function outputList(
  outputs: unknown[],
  entries: ManifestEntry[],
  ctx: OutputContext,
  what: string,
): Html {
  const named = new Set(outputs.flatMap((o) => fileUrls(o)));
  const others = entries.filter((e) => ![...named].some((url) => entryFor(url, [e])));
  if (outputs.length === 0 && entries.length === 0) return html`<p class="muted">No outputs yet.</p>`;
  return html`<div class="outputs">
    ${outputs.map((o, i) => outputValue(o, `${what} output ${i + 1}`, entries, ctx))}
    ${others.map((e) => keptFile(e, `${what} file ${e.path}`, ctx))}
  </div>`;
}

export function size(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
