/**
 * @layer adapter
 * Restore a point: as new volumes (optionally attached to a VM, optionally named), in place onto
 * the VM (whole VM or chosen disks; stop first / start after) behind a warning of exactly what is
 * overwritten and a typed confirmation of the VM's name, or a download of one disk as qcow2 or
 * raw. Shows the restore's live progress (SSE) with cancel and its outcome.
 */
import { html, nothing } from 'lit';
import { en } from '../../i18n/en.ts';
import { ok, messageOf } from '../../api/failure.ts';
import { follow } from '../../api/events.ts';
import { baseFromLocation } from '../../api/client.ts';
import type { Point, Restore } from '../../api/dto.ts';
import { dateTime, fmt } from '../../logic/format.ts';
import { ViewBase } from '../view-base.ts';

type Mode = 'new-volume' | 'in-place' | 'download';
const DONE = new Set(['succeeded', 'failed', 'cancelled']);
const NAME = /^[\w .-]+$/;

export class SdRestoreDialog extends ViewBase {
  static override properties = {
    vm: { state: true }, point: { state: true }, mode: { state: true }, disks: { state: true }, attachTo: { state: true }, name: { state: true },
    stopVm: { state: true }, startVm: { state: true }, confirm: { state: true }, format: { state: true }, restore: { state: true }, error: { state: true }, busy: { state: true },
  };
  declare vm: { id: string; name: string } | undefined;
  declare point: Point | undefined;
  declare mode: Mode;
  declare disks: string[];
  declare attachTo: string;
  declare name: string;
  declare stopVm: boolean;
  declare startVm: boolean;
  declare confirm: string;
  declare format: 'qcow2' | 'raw';
  declare restore: Restore | undefined;
  declare error: string;
  declare busy: boolean;
  private following: AbortController | undefined;

  constructor() {
    super();
    this.vm = undefined;
    this.point = undefined;
    this.mode = 'new-volume';
    this.disks = [];
    this.attachTo = '';
    this.name = '';
    this.stopVm = false;
    this.startVm = false;
    this.confirm = '';
    this.format = 'qcow2';
    this.restore = undefined;
    this.error = '';
    this.busy = false;
  }

  open(vm: { id: string; name: string }, point: Point) {
    if (this.point?.id !== point.id || (this.restore && DONE.has(this.restore.status))) {
      this.restore = undefined;
      this.error = '';
      this.confirm = '';
      this.disks = point.disks.map((d) => d.target);
    }
    this.vm = vm;
    this.point = point;
    void this.updateComplete.then(() => this.renderRoot.querySelector('dialog')?.showModal());
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.following?.abort();
  }

  private nameInvalid() { return this.name !== '' && !NAME.test(this.name); }
  private attachInvalid() { return this.attachTo !== '' && !/^[0-9a-f-]{36}$/i.test(this.attachTo.trim()); }
  private confirmed() { return this.confirm.trim() === this.vm?.name; }

  private canStart() {
    if (this.busy || this.disks.length === 0) return false;
    if (this.mode === 'in-place') return this.confirmed();
    if (this.mode === 'new-volume') return !this.nameInvalid() && !this.attachInvalid();
    return this.disks.length === 1;
  }

  private async start(e: Event) {
    e.preventDefault();
    if (!this.point || !this.canStart()) return;
    this.error = '';
    if (this.mode === 'download') { await this.download(); return; }
    this.busy = true;
    try {
      const v1 = this.api.api.v1;
      const all = this.disks.length === this.point.disks.length;
      const json = this.mode === 'in-place'
        ? { mode: 'in-place' as const, ...(all ? {} : { disks: this.disks }), stopVm: this.stopVm, startVm: this.startVm }
        : { mode: 'new-volume' as const, ...(all ? {} : { disks: this.disks }), ...(this.attachTo.trim() ? { attachToVmId: this.attachTo.trim() } : {}), ...(this.name ? { name: this.name } : {}) };
      const r = await ok(v1['restore-points'][':id'].restore.$post({ param: { id: this.point.id }, json }));
      this.restore = r;
      this.following?.abort();
      const ctl = new AbortController();
      this.following = ctl;
      await follow<Restore>(v1.restores[':id'].events.$get({ param: { id: r.id } }, { init: { signal: ctl.signal } }), 'restore', (x) => { this.restore = x; }, ctl.signal);
      if (!ctl.signal.aborted) this.restore = await ok(v1.restores[':id'].$get({ param: { id: r.id } }));
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) this.error = messageOf(err);
    } finally {
      this.busy = false;
    }
  }

  /**
   * a download: a short-lived signed link (POST …/download-link) the browser follows itself and
   * streams to a file, so no disk ever sits in the page's memory and no token goes in a URL
   */
  private async download() {
    if (!this.point) return;
    this.busy = true;
    try {
      const v1 = this.api.api.v1;
      const link = await ok(v1['restore-points'][':id']['download-link'].$post({ param: { id: this.point.id }, json: { disk: this.disks[0], format: this.format } }));
      const url = new URL(link.path, baseFromLocation(location.href)).href;
      const a = document.createElement('a');
      a.href = url;
      a.download = '';
      // only there to be clicked once: named, and out of the page's content for assistive tech
      a.textContent = `${this.vm?.name ?? ''} ${this.disks[0]}.${this.format}`;
      a.hidden = true;
      a.dataset.testid = 'download-link';
      this.renderRoot.appendChild(a);
      a.click();
      setTimeout(() => a.remove(), 60_000);
      this.error = '';
      this.restore = undefined;
      this.busy = false;
      this.renderRoot.querySelector('dialog')?.close();
    } catch (err) {
      this.error = messageOf(err);
    } finally {
      this.busy = false;
    }
  }

  private async cancel() {
    if (!this.restore) return;
    try {
      this.restore = await ok(this.api.api.v1.restores[':id'].cancel.$post({ param: { id: this.restore.id } }));
    } catch (err) {
      this.error = messageOf(err);
    }
  }

  private outcome(r: Restore) {
    const s = en.restore;
    if (r.status === 'succeeded') return html`<div class="alert success" role="status" data-outcome="succeeded">${s.succeeded}
      ${r.volumeIds.length ? html`<div>${fmt(s.volumes, { ids: r.volumeIds.join(', ') })}</div>` : nothing}</div>`;
    if (r.status === 'failed') return html`<div class="alert error" role="alert" data-outcome="failed">${fmt(s.failed, { message: r.error?.message ?? r.status })}</div>`;
    if (r.status === 'cancelled') return html`<div class="alert warning" role="status" data-outcome="cancelled">${s.cancelled}</div>`;
    return html`<div role="status" aria-live="polite"><progress max="1" .value=${r.progress} aria-label=${s.mode}></progress>
      <div data-testid="restore-progress">${Math.round(r.progress * 100)} % · ${r.status}</div>
      ${r.disks.map((d) => html`<div class="muted">${d.target}: ${d.state}</div>`)}</div>`;
  }

  private form() {
    const s = en.restore;
    const p = this.point!;
    const multi = this.mode !== 'download';
    return html`
      <fieldset><legend>${s.mode}</legend>
        ${(['new-volume', 'in-place', 'download'] as const).map((m) => html`<label><input type="radio" name="mode" value=${m} .checked=${this.mode === m}
          @change=${() => { this.mode = m; if (m === 'download') this.disks = this.disks.slice(0, 1); }}>${m === 'new-volume' ? s.newVolume : m === 'in-place' ? s.inPlace : s.download}</label>`)}
      </fieldset>
      <fieldset><legend>${s.disks}</legend>
        ${p.disks.map((d) => html`<label><input type=${multi ? 'checkbox' : 'radio'} name="disk" value=${d.target} .checked=${this.disks.includes(d.target)}
          @change=${(e: Event) => {
            const on = (e.target as HTMLInputElement).checked;
            this.disks = multi ? (on ? [...this.disks, d.target] : this.disks.filter((x) => x !== d.target)) : [d.target];
          }}>${d.target} (${d.type})</label>`)}
      </fieldset>
      ${this.mode === 'new-volume' ? html`
        <div class="field"><label for="attach">${s.attachTo}</label>
          <input id="attach" type="text" .value=${this.attachTo} aria-invalid=${this.attachInvalid() ? 'true' : 'false'} @input=${(e: Event) => { this.attachTo = (e.target as HTMLInputElement).value; }}>
          ${this.attachInvalid() ? html`<div class="invalid">${en.policies.assignHint.vm}</div>` : nothing}</div>
        <div class="field"><label for="vol-name">${s.name}</label>
          <input id="vol-name" type="text" .value=${this.name} aria-invalid=${this.nameInvalid() ? 'true' : 'false'} aria-describedby="vol-name-msg" @input=${(e: Event) => { this.name = (e.target as HTMLInputElement).value; }}>
          <div id="vol-name-msg" class=${this.nameInvalid() ? 'invalid' : 'hint'}>${this.nameInvalid() ? s.nameInvalid : ''}</div></div>` : nothing}
      ${this.mode === 'in-place' ? html`
        <div class="alert warning" role="alert" data-testid="overwrite-warning">${fmt(s.warning, { disks: this.disks.join(', ') || '—', vm: this.vm?.name ?? '', at: dateTime(p.createdAt) })}</div>
        <label><input type="checkbox" .checked=${this.stopVm} @change=${(e: Event) => { this.stopVm = (e.target as HTMLInputElement).checked; }}>${s.stopVm}</label>
        <label><input type="checkbox" .checked=${this.startVm} @change=${(e: Event) => { this.startVm = (e.target as HTMLInputElement).checked; }}>${s.startVm}</label>
        <div class="field"><label for="confirm">${fmt(s.confirm, { vm: this.vm?.name ?? '' })}</label>
          <input id="confirm" type="text" autocomplete="off" .value=${this.confirm} aria-invalid=${this.confirm && !this.confirmed() ? 'true' : 'false'} @input=${(e: Event) => { this.confirm = (e.target as HTMLInputElement).value; }}>
          ${this.confirm && !this.confirmed() ? html`<div class="invalid">${fmt(s.confirmMismatch, { vm: this.vm?.name ?? '' })}</div>` : nothing}</div>` : nothing}
      ${this.mode === 'download' ? html`<fieldset><legend>${s.format}</legend>
        ${(['qcow2', 'raw'] as const).map((f) => html`<label><input type="radio" name="format" value=${f} .checked=${this.format === f} @change=${() => { this.format = f; }}>${f}</label>`)}</fieldset>` : nothing}`;
  }

  override render() {
    const s = en.restore;
    const r = this.restore;
    const running = !!r && !DONE.has(r.status);
    return html`<dialog aria-labelledby="restore-title">
      <header id="restore-title">${fmt(s.title, { vm: this.vm?.name ?? '', point: this.point ? dateTime(this.point.createdAt) : '' })}</header>
      <form class="body" @submit=${this.start}>
        ${this.error ? html`<div class="alert error" role="alert">${this.error}</div>` : nothing}
        ${r ? this.outcome(r) : this.point ? this.form() : nothing}
      </form>
      <footer>
        ${running ? html`<button class="danger" @click=${this.cancel}>${s.cancel}</button>` : nothing}
        ${!r ? html`<button class=${this.mode === 'in-place' ? 'primary danger' : 'primary'} @click=${this.start} ?disabled=${!this.canStart()}>${this.mode === 'download' ? s.startDownload : s.start}</button>` : nothing}
        <button @click=${() => this.renderRoot.querySelector('dialog')?.close()}>${s.close}</button>
      </footer>
    </dialog>`;
  }
}
customElements.define('sd-restore-dialog', SdRestoreDialog);
