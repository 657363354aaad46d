/**
 * @layer adapter
 * VMs: every VM the caller may see (the API asks CloudStack), searched and paged by the server
 * (the search and page live in the URL), each row with its protection: policy, restore points,
 * last backup and its age and outcome, source platform, and the actions.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import type { VmDetail } from '../../api/dto.ts';
import { fmt, relative } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { statusTag } from '../tags.ts';
import './backup-dialog.ts';
import type { SdBackupDialog } from './backup-dialog.ts';

const PAGE = 20;

export class SdVms extends ViewBase {
  static override styles = [ViewBase.styles, css`
    .toolbar { margin-bottom: 16px; }
    .toolbar input { width: 280px; }
    .pager { margin-top: 12px; justify-content: flex-end; }
  `];
  static override properties = { ...ViewBase.properties, query: { attribute: false }, typed: { state: true } };
  declare query: Record<string, string>;
  declare typed: string | undefined;
  private debounce: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.query = {};
    this.typed = undefined;
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.debounce);
  }

  private get page() { return Math.max(1, Number(this.query.page) || 1); }
  private get search() { return this.query.search ?? ''; }

  private data = new Task(this, {
    task: async ([search, page], { signal }) => {
      const v1 = this.api.api.v1;
      const list = await ok(v1.vms.$get({ query: { limit: String(PAGE), offset: String((page - 1) * PAGE), ...(search ? { search } : {}) } }, { init: { signal } }));
      const details = await Promise.all(list.items.map((vm) => ok(v1.vms[':id'].$get({ param: { id: vm.id } }, { init: { signal } })).catch(() => undefined)));
      return { list, details: new Map(details.filter((d): d is VmDetail => !!d).map((d) => [d.id, d])) };
    },
    args: () => [this.search, this.page, this.generation] as const,
  });

  private onSearch(e: Event) {
    this.typed = (e.target as HTMLInputElement).value;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => { location.hash = href({ view: 'vms', query: { search: this.typed?.trim() } }); }, 300);
  }

  private backUp(vm: { id: string; name: string }) {
    const d = this.renderRoot.querySelector<SdBackupDialog>('sd-backup-dialog');
    d?.open(vm);
  }

  override render() {
    const s = en.vms;
    return html`<h1>${s.title}</h1>
      <div class="row toolbar" role="search">
        <label for="vm-search" class="muted">${s.search}</label>
        <input id="vm-search" type="search" placeholder=${s.searchPlaceholder} .value=${this.typed ?? this.search} @input=${this.onSearch}>
      </div>
      ${taskView(this.data, ({ list, details }) => {
        if (list.total === 0) return html`<sd-state kind="empty" message=${s.none}></sd-state>`;
        const pages = Math.max(1, Math.ceil(list.total / PAGE));
        return html`<div class="table-wrap"><table aria-label=${s.title}>
          <thead><tr><th scope="col">${s.name}</th><th scope="col">${s.state}</th><th scope="col">${s.account}</th><th scope="col">${s.platform}</th>
            <th scope="col">${s.policy}</th><th scope="col">${en.vm.points}</th><th scope="col">${s.lastPoint}</th><th scope="col">${s.actions}</th></tr></thead>
          <tbody>${list.items.map((vm) => {
            const d = details.get(vm.id);
            const job = d?.lastJob;
            return html`<tr data-vm=${vm.name}>
              <td class="nowrap"><a href=${href({ view: 'vm', id: vm.id })}>${vm.displayName ?? vm.name}</a><div class="muted">${vm.zoneName ?? ''}</div></td>
              <td>${vm.state}</td>
              <td>${vm.account}<div class="muted">${vm.domainPath ?? ''}</div></td>
              <td><span class="tag info">${job?.sourcePlatform ?? 'cloudstack'}</span></td>
              <td>${d?.policy ? d.policy.name : html`<span class="muted">${s.noPolicy}</span>`}</td>
              <td>${d ? d.restorePoints : '—'}</td>
              <td>${job ? html`${statusTag(job.status)} <div class="muted">${relative(job.finishedAt ?? job.queuedAt)}</div>` : html`<span class="muted">${s.noPoint}</span>`}</td>
              <td><div class="actions"><button class="small" @click=${() => this.backUp(vm)}>${s.backUp}</button>
                <a class="button small" href=${href({ view: 'vm', id: vm.id })}>${s.open}</a></div></td>
            </tr>`;
          })}</tbody></table></div>
          <div class="row pager">
            <span class="muted">${fmt(s.page, { page: this.page, pages, total: list.total })}</span>
            ${this.page > 1 ? html`<a class="button small" href=${href({ view: 'vms', query: { search: this.search, page: this.page - 1 } })}>${s.prev}</a>` : nothing}
            ${this.page < pages ? html`<a class="button small" href=${href({ view: 'vms', query: { search: this.search, page: this.page + 1 } })}>${s.next}</a>` : nothing}
          </div>`;
      })}
      <sd-backup-dialog @backup-finished=${() => void this.data.run()}></sd-backup-dialog>`;
  }
}
customElements.define('sd-vms', SdVms);
