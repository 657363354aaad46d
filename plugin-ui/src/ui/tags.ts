/**
 * @layer adapter
 * Status tags (Ant Design's coloured tags) for jobs, restores and verification.
 */
import { html } from 'lit';

const GOOD = new Set(['succeeded', 'verified', 'ok', 'keep']);
const BAD = new Set(['failed', 'error', 'offline', 'unreachable', 'delete', 'denied']);
const WARN = new Set(['cancelled', 'cancelling', 'unverified', 'merge', 'degraded', 'stale']);

export function statusTag(status: string, label: string = status) {
  const cls = GOOD.has(status) ? 'ok' : BAD.has(status) ? 'bad' : WARN.has(status) ? 'warn' : 'info';
  return html`<span class="tag ${cls}" data-status=${status}>${label}</span>`;
}
