/**
 * @layer adapter
 * History: backups or restores of the VMs the caller may see, newest first, filtered by status on
 * the server and paged, each with its error.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import { bytes, dateTime, fmt } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { statusTag } from '../tags.ts';

const PAGE = 25;
const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

export class SdHistory extends ViewBase {
  static override styles = [ViewBase.styles, css`.toolbar { margin-bottom: 16px; } select { width: auto; } .pager { margin-top: 12px; justify-content: flex-end; }`];
  static override properties = { ...ViewBase.properties, query: { attribute: false } };
  declare query: Record<string, string>;

  constructor() {
    super();
    this.query = {};
  }

  private get kind(): 'jobs' | 'restores' { return this.query.kind === 'restores' ? 'restores' : 'jobs'; }
  private get status() { return STATUSES.includes(this.query.status ?? '') ? this.query.status : ''; }
  private get page() { return Math.max(1, Number(this.query.page) || 1); }

  private data = new Task(this, {
    task: async ([kind, status, page], { signal }) => {
      const query = { limit: String(PAGE), offset: String((page - 1) * PAGE), ...(status ? { status } : {}) };
      const v1 = this.api.api.v1;
      if (kind === 'restores') return { kind, list: await ok(v1.restores.$get({ query }, { init: { signal } })) } as const;
      return { kind, list: await ok(v1.jobs.$get({ query }, { init: { signal } })) } as const;
    },
    args: () => [this.kind, this.status, this.page, this.generation] as const,
  });

  private go(q: Record<string, string | number | undefined>) {
    location.hash = href({ view: 'history', query: { kind: this.kind, status: this.status, ...q } });
  }

  override render() {
    const s = en.history;
    return html`<h1>${s.title}</h1>
      <div class="row toolbar">
        <div role="group" aria-label=${s.title} class="row">
          ${(['jobs', 'restores'] as const).map((k) => html`<button class=${this.kind === k ? 'primary' : ''} aria-pressed=${this.kind === k ? 'true' : 'false'} @click=${() => this.go({ kind: k, page: undefined })}>${s[k]}</button>`)}
        </div>
        <label for="h-status" class="muted">${s.status}</label>
        <select id="h-status" @change=${(e: Event) => this.go({ status: (e.target as HTMLSelectElement).value, page: undefined })}>
          <option value="" ?selected=${!this.status}>${s.all}</option>
          ${STATUSES.map((x) => html`<option value=${x} ?selected=${this.status === x}>${x}</option>`)}
        </select>
      </div>
      ${taskView(this.data, (d) => {
        if (d.list.total === 0) return html`<sd-state kind="empty" message=${s.none}></sd-state>`;
        const pages = Math.max(1, Math.ceil(d.list.total / PAGE));
        const rows = d.kind === 'jobs'
          ? d.list.items.map((j) => html`<tr data-job=${j.id}><td><a href=${href({ view: 'vm', id: j.vmId })}>${j.vmName ?? j.vmId}</a></td><td>${j.type} <span class="muted">${j.trigger}</span></td>
              <td>${statusTag(j.status)}</td><td>${dateTime(j.queuedAt)}</td><td>${dateTime(j.finishedAt)}</td><td>${bytes(j.bytesWritten)}</td><td class="muted">${j.error?.message ?? ''}</td></tr>`)
          : d.list.items.map((r) => html`<tr data-restore=${r.id}><td><a href=${href({ view: 'vm', id: r.vmId })}>${r.vmId.slice(0, 8)}</a></td><td>${r.kind}</td>
              <td>${statusTag(r.status)}</td><td>${dateTime(r.createdAt)}</td><td>${dateTime(r.finishedAt)}</td><td>${bytes(r.bytesSent)}</td><td class="muted">${r.error?.message ?? ''}</td></tr>`);
        return html`<div class="table-wrap"><table aria-label=${s[d.kind]}>
          <thead><tr><th scope="col">${s.vm}</th><th scope="col">${d.kind === 'jobs' ? s.type : s.kind}</th><th scope="col">${s.status}</th><th scope="col">${s.queued}</th>
            <th scope="col">${s.finished}</th><th scope="col">${s.size}</th><th scope="col">${s.error}</th></tr></thead>
          <tbody>${rows}</tbody></table></div>
          <div class="row pager"><span class="muted">${fmt(en.vms.page, { page: this.page, pages, total: d.list.total }).replace('VMs', s[d.kind].toLowerCase())}</span>
            ${this.page > 1 ? html`<button class="small" @click=${() => this.go({ page: this.page - 1 })}>${en.vms.prev}</button>` : nothing}
            ${this.page < pages ? html`<button class="small" @click=${() => this.go({ page: this.page + 1 })}>${en.vms.next}</button>` : nothing}</div>`;
      })}`;
  }
}
customElements.define('sd-history', SdHistory);
