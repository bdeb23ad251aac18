/** The sign-in form (WEB_AUTH_TOKEN as the password): it sets an HttpOnly session cookie. */
import { html, type Html } from '../html';
import type { ViewContext } from './context';

export function loginBody(ctx: ViewContext, next: string, error: string | null): Html {
  return html`<h1>Sign in</h1>
    ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
    <form class="login" method="post" action="${ctx.basePath}/login">
      <input type="hidden" name="csrf" value="${ctx.csrf ?? ''}" />
      <input type="hidden" name="next" value="${next}" />
      <label>
        Token (WEB_AUTH_TOKEN)
        <input type="password" name="token" autocomplete="current-password" required autofocus />
      </label>
      <button type="submit">Sign in</button>
    </form>`;
}
