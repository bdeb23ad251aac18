/** Small pieces every view uses: statuses as badges, times, durations and money. */
import { usd } from '../../shared/budget';
import { humanDuration } from '../../shared/duration';
import { html, type Html } from '../html';

/** The CSS class of a status word: `s-processing`, `s-timed-out`. */
export function statusClass(status: string): string {
  return `s-${status.toLowerCase().replace(/[^a-z]+/g, '-')}`;
}

export function badge(status: string): Html {
  return html`<span class="badge ${statusClass(status)}">${status}</span>`;
}

/** Temporal's execution status in the words the page uses. */
export function workflowStatusWord(name: string): string {
  const words: Record<string, string> = {
    RUNNING: 'running',
    COMPLETED: 'succeeded',
    FAILED: 'failed',
    CANCELLED: 'canceled',
    TERMINATED: 'terminated',
    TIMED_OUT: 'timed out',
    CONTINUED_AS_NEW: 'continued',
  };
  return words[name] ?? name.toLowerCase();
}

/**
 * A moment: the UTC time as text (stable, so a live region does not change every second); the page's script shows
 * it as an age ("3 min ago") and keeps it current.
 */
export function moment(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">-</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`<span class="muted">-</span>`;
  return html`<time datetime="${d.toISOString()}" data-age
    >${d.toISOString().replace('T', ' ').slice(0, 19)} UTC</time
  >`;
}

/** Time since `iso`, counted up by the page's script while the thing runs. */
export function since(iso: string): Html {
  return html`<span data-since="${iso}">running</span>`;
}

export function duration(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '-' : humanDuration(ms);
}

export function seconds(s: number | null | undefined): string {
  return s === null || s === undefined ? '-' : `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
}

export function money(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : usd(n);
}
