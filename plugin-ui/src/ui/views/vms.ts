/**
 * @layer adapter
 * VMs: every VM the caller may see (the API asks CloudStack), searched, filtered (protection,
 * platform, account), sorted and paged by the server in one request per page — the search, the
 * filters, the sort and the page live in the URL — each row with its protection as the API
 * returns it: status, platform badge, policy and next run, points and chain length, last point
 * with its age and verification, last job, and the actions.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import type { Platform, Protection, VmQuery, VmSort as Sort } from '../../api/dto.ts';
import { fmt, relative } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { statusTag } from '../tags.ts';
import './backup-dialog.ts';
import type { SdBackupDialog } from './backup-dialog.ts';

const PAGE = 20;
const PROTECTIONS: Protection[] = ['protected', 'unprotected', 'failing'];
const PLATFORMS: Platform[] = ['cloudstack', 'vmware', 'kvm', 'hyperv', 'nutanix', 'aws', 'azure'];
const SORTS: Sort[] = ['name', 'state', 'account', 'protection', 'lastBackup'];
const TAG: Record<Protection, string> = { protected: 'succeeded', unprotected: 'cancelled', failing: 'failed' };

export class SdVms extends ViewBase {
  static override styles = [ViewBase.styles, css`
    .toolbar { margin-bottom: 16px; flex-wrap: wrap; gap: 8px 16px; }
    .toolbar input[type='search'] { width: 240px; }
    .toolbar input.account { width: 160px; }
    .toolbar select { width: auto; }
    .pager { margin-top: 12px; justify-content: flex-end; }
    th button.sort { all: unset; cursor: pointer; font-weight: 500; }
    th button.sort:focus-visible { outline: 2px solid var(--sd-primary); outline-offset: 2px; }
    th button.sort .dir { color: var(--sd-text-2); margin-left: 4px; }
  `];
  static override properties = { ...ViewBase.properties, query: { attribute: false }, typed: { state: true } };
  declare query: Record<string, string>;
  declare typed: { search?: string; account?: string };
  private debounce: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    super();
    this.query = {};
    this.typed = {};
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.debounce);
  }

  private get page() { return Math.max(1, Number(this.query.page) || 1); }
  private get protection(): Protection | undefined { return PROTECTIONS.find((x) => x === this.query.protection); }
  private get platform(): Platform | undefined { return PLATFORMS.find((x) => x === this.query.platform); }
  private get sort(): Sort { return SORTS.find((x) => x === this.query.sort) ?? 'name'; }
  private get order(): 'asc' | 'desc' { return this.query.order === 'desc' ? 'desc' : 'asc'; }

  private data = new Task(this, {
    task: async ([search, protection, platform, account, sort, order, page], { signal }) => {
      const query: VmQuery = {
        limit: String(PAGE), offset: String((page - 1) * PAGE), sort, order,
        ...(search ? { search } : {}), ...(protection ? { protection } : {}), ...(platform ? { platform } : {}), ...(account ? { account } : {}),
      };
      return ok(this.api.api.v1.vms.$get({ query }, { init: { signal } }));
    },
    args: () => [this.query.search ?? '', this.protection, this.platform, this.query.account ?? '', this.sort, this.order, this.page, this.generation] as const,
  });

  /** a new URL for the list: the page goes back to 1 unless given */
  private go(change: Record<string, string | number | undefined>) {
    const q = { search: this.query.search, protection: this.protection, platform: this.platform, account: this.query.account, sort: this.sort === 'name' ? undefined : this.sort, order: this.order === 'asc' ? undefined : this.order, page: undefined, ...change };
    location.hash = href({ view: 'vms', query: q });
  }

  private onTyped(field: 'search' | 'account', e: Event) {
    const value = (e.target as HTMLInputElement).value;
    this.typed = { ...this.typed, [field]: value };
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.go({ search: this.typed.search?.trim() ?? this.query.search, account: this.typed.account?.trim() ?? this.query.account }), 300);
  }

  private sortBy(col: Sort) {
    this.go({ sort: col === 'name' ? undefined : col, order: this.sort === col && this.order === 'asc' ? 'desc' : undefined });
  }

  private th(label: string, col?: Sort) {
    if (!col) return html`<th scope="col">${label}</th>`;
    const on = this.sort === col;
    return html`<th scope="col" aria-sort=${on ? (this.order === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button class="sort" data-sort=${col} aria-label=${fmt(en.vms.sortBy, { column: label })} @click=${() => this.sortBy(col)}>${label}<span class="dir" aria-hidden="true">${on ? (this.order === 'asc' ? '▲' : '▼') : '↕'}</span></button></th>`;
  }

  private backUp(vm: { id: string; name: string }) {
    this.renderRoot.querySelector<SdBackupDialog>('sd-backup-dialog')?.open(vm);
  }

  override render() {
    const s = en.vms;
    return html`<h1>${s.title}</h1>
      <div class="row toolbar" role="search">
        <label for="vm-search" class="muted">${s.search}</label>
        <input id="vm-search" type="search" placeholder=${s.searchPlaceholder} .value=${this.typed.search ?? this.query.search ?? ''} @input=${(e: Event) => this.onTyped('search', e)}>
        <label for="vm-protection" class="muted">${s.filter}</label>
        <select id="vm-protection" @change=${(e: Event) => this.go({ protection: (e.target as HTMLSelectElement).value || undefined })}>
          <option value="" ?selected=${!this.protection}>${s.filters.all}</option>
          ${PROTECTIONS.map((x) => html`<option value=${x} ?selected=${this.protection === x}>${s.filters[x]}</option>`)}
        </select>
        <label for="vm-platform" class="muted">${s.platformFilter}</label>
        <select id="vm-platform" @change=${(e: Event) => this.go({ platform: (e.target as HTMLSelectElement).value || undefined })}>
          <option value="" ?selected=${!this.platform}>${s.anyPlatform}</option>
          ${PLATFORMS.map((x) => html`<option value=${x} ?selected=${this.platform === x}>${x}</option>`)}
        </select>
        <label for="vm-account" class="muted">${s.accountFilter}</label>
        <input id="vm-account" class="account" type="search" placeholder=${s.accountPlaceholder} .value=${this.typed.account ?? this.query.account ?? ''} @input=${(e: Event) => this.onTyped('account', e)}>
      </div>
      ${taskView(this.data, (list) => {
        if (list.total === 0) return html`<sd-state kind="empty" message=${s.none}></sd-state>`;
        const pages = Math.max(1, Math.ceil(list.total / PAGE));
        return html`<div class="table-wrap"><table aria-label=${s.title}>
          <thead><tr>${this.th(s.name, 'name')}${this.th(s.state, 'state')}${this.th(s.account, 'account')}${this.th(s.platform)}${this.th(s.protection, 'protection')}
            ${this.th(s.policy)}${this.th(s.points)}${this.th(s.lastPoint, 'lastBackup')}${this.th(s.lastJob)}${this.th(s.actions)}</tr></thead>
          <tbody>${list.items.map((vm) => {
            const p = vm.protection;
            return html`<tr data-vm=${vm.name} data-protection=${p.status}>
              <td class="nowrap"><a href=${href({ view: 'vm', id: vm.id })}>${vm.displayName ?? vm.name}</a><div class="muted">${vm.zoneName ?? ''}</div></td>
              <td>${vm.state}</td>
              <td>${vm.account}<div class="muted">${vm.domainPath ?? ''}</div></td>
              <td><span class="tag info" data-platform=${p.platform}>${p.platform}</span></td>
              <td>${statusTag(TAG[p.status], s.filters[p.status])}</td>
              <td>${p.policy ? html`${p.policy.name}${p.nextRunAt ? html`<div class="muted">${fmt(s.nextRun, { when: relative(p.nextRunAt) })}</div>` : nothing}` : html`<span class="muted">${s.noPolicy}</span>`}</td>
              <td>${p.points}${p.chainLength ? html`<div class="muted">${fmt(s.chainOf, { n: p.chainLength })}</div>` : nothing}</td>
              <td>${p.lastPoint ? html`${relative(p.lastPoint.createdAt)} <span class="muted">${p.lastPoint.type}</span><div>${statusTag(p.lastPoint.verificationStatus)}</div>` : html`<span class="muted">${s.noPoint}</span>`}</td>
              <td>${p.lastJob ? html`${statusTag(p.lastJob.status)}<div class="muted" title=${p.lastJob.error?.message ?? ''}>${relative(p.lastJob.finishedAt ?? p.lastJob.queuedAt)}</div>` : html`<span class="muted">—</span>`}</td>
              <td><div class="actions"><button class="small" @click=${() => this.backUp(vm)}>${s.backUp}</button>
                <a class="button small" href=${href({ view: 'vm', id: vm.id })}>${s.open}</a></div></td>
            </tr>`;
          })}</tbody></table></div>
          <div class="row pager">
            <span class="muted" data-testid="vm-total">${fmt(s.page, { page: this.page, pages, total: list.total })}</span>
            ${this.page > 1 ? html`<button class="small" @click=${() => this.go({ page: this.page - 1 })}>${s.prev}</button>` : nothing}
            ${this.page < pages ? html`<button class="small" @click=${() => this.go({ page: this.page + 1 })}>${s.next}</button>` : nothing}
          </div>`;
      })}
      <sd-backup-dialog @backup-finished=${() => void this.data.run()}></sd-backup-dialog>`;
  }
}
customElements.define('sd-vms', SdVms);
