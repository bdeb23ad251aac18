/**
 * HTML built from tagged templates that escape every value: `html\`<p>${text}</p>\`` shows `text` as text whatever
 * it holds (a model's `<script>` becomes `&lt;script&gt;`). Only another `html` result (or `raw()`, for constants
 * this package writes) goes in unescaped. Twenty lines instead of a template engine: the pages are small, built
 * in code, and the one rule that matters (escape everything by default) is easy to see here.
 */

/** Markup that is already safe: the result of `html`, or `raw()` of a constant. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** A value as markup: Html as is, arrays joined, null/undefined/false as nothing, anything else escaped text. */
function piece(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(piece).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += piece(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Markup this package wrote itself (never anything a model or a user sent). */
export function raw(text: string): Html {
  return new Html(text);
}
