/**
 * @layer adapter
 * The four states every view has besides its data: loading, empty, error (with the API's own
 * message and a retry) and permission denied. `taskView` renders a @lit/task's state with them.
 */
import { html, LitElement, nothing, type TemplateResult } from 'lit';
import { TaskStatus, type Task } from '@lit/task';
import { en } from '../i18n/en.ts';
import { ApiFailure, messageOf } from '../api/failure.ts';
import { fmt } from '../logic/format.ts';
import { theme } from './theme.ts';

export type StateKind = 'loading' | 'empty' | 'error' | 'denied';

export class SdState extends LitElement {
  static override styles = theme;
  static override properties = { kind: {}, message: {} };
  declare kind: StateKind;
  declare message: string;
  constructor() {
    super();
    this.kind = 'loading';
    this.message = '';
  }
  override render() {
    const s = en.state;
    switch (this.kind) {
      case 'loading': return html`<p class="muted" role="status" aria-live="polite" data-state="loading">${s.loading}</p>`;
      case 'empty': return html`<p class="muted" data-state="empty">${this.message || s.empty}</p>`;
      case 'denied': return html`<div class="alert warning" role="alert" data-state="denied">${fmt(s.denied, { message: this.message })}</div>`;
      default: return html`<div class="alert error" role="alert" data-state="error">${fmt(s.error, { message: this.message })}
        <button class="small" @click=${() => this.dispatchEvent(new Event('retry', { bubbles: true, composed: true }))}>${s.retry}</button></div>`;
    }
  }
}
customElements.define('sd-state', SdState);

/** a task's state: loading, error or denied from its error, else `complete` (which may render an empty state) */
export function taskView<T>(task: Task<readonly unknown[], T>, complete: (v: T) => TemplateResult | typeof nothing): TemplateResult | typeof nothing {
  if (task.status === TaskStatus.ERROR) {
    const e = task.error;
    const denied = e instanceof ApiFailure && e.denied;
    return html`<sd-state kind=${denied ? 'denied' : 'error'} message=${messageOf(e)} @retry=${() => void task.run()}></sd-state>`;
  }
  if (task.status === TaskStatus.COMPLETE) return complete(task.value as T);
  // running again (a refresh): keep showing what was there, so dialogs and scroll positions stay
  if (task.status === TaskStatus.PENDING && task.value !== undefined) return complete(task.value);
  return html`<sd-state kind="loading"></sd-state>`;
}
