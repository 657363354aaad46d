/**
 * @layer adapter
 * One VM: its disks and policy, back up now, and its restore points as a timeline per disk
 * (full / incremental, size, verified or not, platform) with verify now, restore and download
 * per point; the retention preview (what goes, what is merged, why) and apply (root admins).
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok, messageOf } from '../../api/failure.ts';
import type { Point, Preview } from '../../api/dto.ts';
import { bytes, dateTime, fmt, relative } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { timeline } from '../../logic/timeline.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { statusTag } from '../tags.ts';
import './backup-dialog.ts';
import './restore-dialog.ts';
import type { SdBackupDialog } from './backup-dialog.ts';
import type { SdRestoreDialog } from './restore-dialog.ts';

export class SdVm extends ViewBase {
  static override styles = [ViewBase.styles, css`
    .lane { display: flex; gap: 6px; overflow-x: auto; padding: 4px 0 8px; }
    .pt { border: 1px solid var(--sd-border-2); border-radius: 2px; padding: 4px 8px; min-width: 120px; background: var(--sd-bg); font-size: 12px; }
    .pt.full { border-left: 4px solid var(--sd-primary); }
    .pt.incremental { border-left: 4px solid var(--sd-border-2); }
    dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
    dt { color: var(--sd-text-2); }
    dd { margin: 0; }
  `];
  static override properties = { ...ViewBase.properties, vmId: {}, notice: { state: true }, preview: { state: true }, previewError: { state: true } };
  declare vmId: string;
  declare notice: string;
  declare preview: Preview | undefined;
  declare previewError: string;

  constructor() {
    super();
    this.vmId = '';
    this.notice = '';
    this.preview = undefined;
    this.previewError = '';
  }

  private data = new Task(this, {
    task: async ([id], { signal }) => {
      const v1 = this.api.api.v1;
      const [vm, points] = await Promise.all([
        ok(v1.vms[':id'].$get({ param: { id } }, { init: { signal } })),
        ok(v1.vms[':id']['restore-points'].$get({ param: { id }, query: { limit: '1000' } }, { init: { signal } })),
      ]);
      return { vm, points: points.items };
    },
    args: () => [this.vmId, this.generation] as const,
  });

  private async verify(p: Point) {
    this.notice = '';
    try {
      const job = await ok(this.api.api.v1['restore-points'][':id'].verify.$post({ param: { id: p.id }, json: {} }));
      this.notice = fmt(en.vm.verifyStarted, { id: job.id.slice(0, 8) });
      void this.pollPoint();
    } catch (e) {
      this.notice = messageOf(e);
    }
  }

  /** re-reads the points until no verification is pending (a verify job takes seconds to minutes) */
  private async pollPoint() {
    for (let i = 0; i < 120 && this.isConnected; i++) {
      await new Promise((r) => setTimeout(r, 2000));
      const jobs = await ok(this.api.api.v1['maintenance-jobs'].$get({ query: { vmId: this.vmId, limit: '5' } })).catch(() => undefined);
      if (jobs && !jobs.items.some((j) => j.status === 'queued' || j.status === 'running')) break;
    }
    void this.data.run();
  }

  private async loadPreview() {
    this.previewError = '';
    try {
      this.preview = await ok(this.api.api.v1.vms[':id'].retention.preview.$get({ param: { id: this.vmId } }));
    } catch (e) {
      this.previewError = messageOf(e);
    }
  }

  private async applyRetention() {
    this.previewError = '';
    try {
      const r = await ok(this.api.api.v1.vms[':id'].retention.apply.$post({ param: { id: this.vmId } }));
      this.notice = fmt(en.vm.applied, { n: r.items.length });
      this.preview = undefined;
      void this.pollPoint();
    } catch (e) {
      this.previewError = messageOf(e);
    }
  }

  private retention() {
    const v = en.vm;
    const p = this.preview;
    return html`<div class="card"><h2>${v.retention}</h2>
      <div class="row"><button @click=${this.loadPreview}>${v.preview}</button>
        ${this.isRoot ? html`<button class="danger" @click=${this.applyRetention} ?disabled=${!p}>${v.apply}</button>` : nothing}</div>
      ${this.previewError ? html`<div class="alert error" role="alert">${this.previewError}</div>` : nothing}
      ${p ? html`<div data-testid="preview">${!p.policy ? html`<p class="muted">${v.noPolicy}</p>` : nothing}
        ${p.repositories.map((r) => html`
          ${r.delete.length === 0 && r.merge.length === 0 ? html`<p>${v.nothingToPrune}</p>` : html`<p>${fmt(v.freed, { bytes: bytes(r.bytesFreedEstimate) })}</p>`}
          <div class="table-wrap"><table><thead><tr><th scope="col">${en.vm.points}</th><th scope="col">${en.history.type}</th><th scope="col">${en.history.queued}</th><th scope="col">${en.history.status}</th><th scope="col"></th></tr></thead>
          <tbody>${r.points.map((x) => html`<tr data-point=${x.pointId}><td>${x.pointId}</td><td>${x.type}</td><td>${dateTime(x.createdAt)}</td>
            <td>${statusTag(x.action, v[x.action])}</td><td class="muted">${x.reasons.join('; ')}${x.mergedFrom?.length ? ` (${x.mergedFrom.join(', ')})` : ''}</td></tr>`)}</tbody></table></div>`)}
      </div>` : nothing}
    </div>`;
  }

  override render() {
    const v = en.vm;
    return html`<p><a href=${href({ view: 'vms' })}>← ${v.back}</a></p>${taskView(this.data, ({ vm, points }) => {
      const lanes = timeline(points);
      return html`
        <div class="row"><h1>${vm.displayName ?? vm.name}</h1><span class="spacer"></span>
          <button class="primary" @click=${() => this.renderRoot.querySelector<SdBackupDialog>('sd-backup-dialog')?.open(vm)}>${en.vms.backUp}</button></div>
        ${this.notice ? html`<div class="alert info" role="status">${this.notice}</div>` : nothing}
        <div class="card"><dl>
          <dt>${en.vms.state}</dt><dd>${vm.state}</dd>
          <dt>${en.vms.account}</dt><dd>${vm.account} (${vm.domainPath ?? vm.domainId})</dd>
          <dt>${en.vms.policy}</dt><dd>${vm.policy ? `${vm.policy.name} (${vm.policy.assignedBy})` : en.vms.noPolicy}</dd>
          <dt>${v.disks}</dt><dd>${vm.disks.map((d) => `${d.name} (${bytes(d.sizeBytes)})`).join(', ') || '—'}</dd>
          <dt>${v.lastJob}</dt><dd>${vm.lastJob ? html`${statusTag(vm.lastJob.status)} ${relative(vm.lastJob.finishedAt ?? vm.lastJob.queuedAt)}${vm.lastJob.error ? html` <span class="muted">${vm.lastJob.error.message}</span>` : nothing}` : en.vms.noPoint}</dd>
        </dl></div>
        <div class="card"><h2>${v.timeline}</h2>
          ${points.length === 0 ? html`<sd-state kind="empty" message=${v.noPoints}></sd-state>` : lanes.map((lane) => html`
            <h3>${lane.disk}</h3>
            <div class="lane" role="list" aria-label=${`${v.timeline}: ${lane.disk}`}>${lane.points.map((x) => html`
              <div class="pt ${x.type}" role="listitem"><div>${dateTime(x.createdAt)}</div><div>${x.type === 'full' ? v.full : v.incremental} · ${bytes(x.fileSizeBytes)}</div>
                <div>${statusTag(x.verificationStatus, x.verificationStatus === 'verified' ? v.verified : x.verificationStatus === 'failed' ? v.failed : v.unverified)} <span class="tag">${x.sourcePlatform}</span></div></div>`)}
            </div>`)}
        </div>
        ${points.length ? html`<div class="card"><h2>${v.points}</h2><div class="table-wrap"><table>
          <thead><tr><th scope="col">${en.history.queued}</th><th scope="col">${en.history.type}</th><th scope="col">${en.history.size}</th><th scope="col">${en.vms.verification}</th><th scope="col">${en.vms.actions}</th></tr></thead>
          <tbody>${points.map((p) => html`<tr data-point=${p.pointId}>
            <td>${dateTime(p.createdAt)}<div class="muted">${p.pointId}</div></td><td>${p.type}<div class="muted">${p.reason}</div></td><td>${bytes(p.sizeBytes)}</td>
            <td>${statusTag(p.verificationStatus)}${p.verificationProblems.length ? html`<div class="muted">${p.verificationProblems.join('; ')}</div>` : nothing}</td>
            <td><div class="actions"><button class="small" @click=${() => this.verify(p)}>${v.verify}</button>
              <button class="small" @click=${() => this.renderRoot.querySelector<SdRestoreDialog>('sd-restore-dialog')?.open(vm, p)}>${v.restore}</button></div></td>
          </tr>`)}</tbody></table></div></div>` : nothing}
        ${this.retention()}`;
    })}
    <sd-backup-dialog @backup-finished=${() => void this.data.run()}></sd-backup-dialog>
    <sd-restore-dialog></sd-restore-dialog>`;
  }
}
customElements.define('sd-vm', SdVm);
