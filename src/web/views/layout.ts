/** The page around every view: header, navigation, the stylesheet and the live script (both served by us). */
import { html, type Html } from '../html';

export interface PageContext {
  basePath: string;
  /** this visitor's CSRF token: every form posts it; the script fills it into forms a live update brings */
  csrf: string;
  /** a logout button (the visitor signed in with the login form) */
  signedIn: boolean;
}

export function page(
  ctx: PageContext,
  title: string,
  body: Html,
  options: { live?: string; notice?: string | null } = {},
): Html {
  const b = ctx.basePath;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="csrf-token" content="${ctx.csrf}" />
        <title>${title} · replicate-temporal</title>
        <link rel="stylesheet" href="${b}/assets/web.css" />
        <script src="${b}/assets/live.js" defer></script>
      </head>
      <body ${options.live ? html`data-live="${options.live}"` : ''}>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <nav aria-label="main">
            <a class="brand" href="${b}/">replicate-temporal</a>
            <a href="${b}/">Generations</a>
          </nav>
          <p class="live-state" role="status" aria-live="polite" data-live-state></p>
          ${
            ctx.signedIn
              ? html`<form method="post" action="${b}/logout">
                  <input type="hidden" name="csrf" value="${ctx.csrf}" />
                  <button type="submit" class="link">Sign out</button>
                </form>`
              : ''
          }
        </header>
        <main id="main">
          ${options.notice ? html`<p class="notice" role="status">${options.notice}</p>` : ''} ${body}
        </main>
      </body>
    </html>`;
}

/** A live region: its content is replaced when the server sends a new version of `id`. */
export function region(id: string, content: Html, tag: 'div' | 'section' = 'div'): Html {
  return tag === 'section'
    ? html`<section id="${id}" data-region>${content}</section>`
    : html`<div id="${id}" data-region>${content}</div>`;
}

/** A POST form with the CSRF token (empty in live updates: the script fills it from the page's meta tag). */
export function actionForm(
  action: string,
  csrf: string | null,
  label: string,
  options: { confirm?: string; fields?: Html; className?: string } = {},
): Html {
  return html`<form
    method="post"
    action="${action}"
    class="action"
    ${options.confirm ? html`data-confirm="${options.confirm}"` : ''}
  >
    <input type="hidden" name="csrf" value="${csrf ?? ''}" />
    ${options.fields ?? ''}
    <button type="submit" class="${options.className ?? ''}">${label}</button>
  </form>`;
}
