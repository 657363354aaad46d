/**
 * @layer adapter
 * Back up now: mode (auto / full) and quiesce, then the job's live progress from its SSE stream
 * (bytes, rate, ETA, the disk being read), cancel, and the outcome; a failure says what to do.
 * Emits `backup-finished` when the job ends.
 */
import { html, nothing } from 'lit';
import { en } from '../../i18n/en.ts';
import { ok, messageOf } from '../../api/failure.ts';
import { follow } from '../../api/events.ts';
import type { Job } from '../../api/dto.ts';
import { bytes, duration, fmt, transfer } from '../../logic/format.ts';
import { ViewBase } from '../view-base.ts';

const DONE = new Set(['succeeded', 'failed', 'cancelled']);

export class SdBackupDialog extends ViewBase {
  static override properties = { vm: { state: true }, mode: { state: true }, quiesce: { state: true }, job: { state: true }, error: { state: true }, busy: { state: true } };
  declare vm: { id: string; name: string } | undefined;
  declare mode: 'auto' | 'full';
  declare quiesce: boolean;
  declare job: Job | undefined;
  declare error: string;
  declare busy: boolean;
  private following: AbortController | undefined;

  constructor() {
    super();
    this.vm = undefined;
    this.mode = 'auto';
    this.quiesce = false;
    this.job = undefined;
    this.error = '';
    this.busy = false;
  }

  open(vm: { id: string; name: string }) {
    if (this.vm?.id !== vm.id || (this.job && DONE.has(this.job.status))) { this.job = undefined; this.error = ''; }
    this.vm = vm;
    void this.updateComplete.then(() => this.renderRoot.querySelector('dialog')?.showModal());
  }

  private close() {
    this.renderRoot.querySelector('dialog')?.close();
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.following?.abort();
  }

  private async start(e: Event) {
    e.preventDefault();
    if (!this.vm) return;
    this.busy = true;
    this.error = '';
    try {
      const v1 = this.api.api.v1;
      const job = await ok(v1.vms[':id'].backups.$post({ param: { id: this.vm.id }, json: { mode: this.mode, quiesce: this.quiesce } }));
      this.job = job;
      this.following?.abort();
      const ctl = new AbortController();
      this.following = ctl;
      await follow<Job>(v1.jobs[':id'].events.$get({ param: { id: job.id } }, { init: { signal: ctl.signal } }), 'job', (j) => { this.job = j; }, ctl.signal);
      if (!ctl.signal.aborted) this.job = await ok(v1.jobs[':id'].$get({ param: { id: job.id } }));
      this.dispatchEvent(new Event('backup-finished', { bubbles: true, composed: true }));
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) this.error = messageOf(err);
    } finally {
      this.busy = false;
    }
  }

  private async cancel() {
    if (!this.job) return;
    try {
      this.job = await ok(this.api.api.v1.jobs[':id'].cancel.$post({ param: { id: this.job.id } }));
    } catch (err) {
      this.error = messageOf(err);
    }
  }

  private progress(j: Job) {
    const b = en.backup;
    if (j.status === 'succeeded') return html`<div class="alert success" role="status" data-outcome="succeeded">${fmt(b.succeeded, { type: j.type, bytes: bytes(j.bytesWritten) })}</div>`;
    if (j.status === 'failed') return html`<div class="alert error" role="alert" data-outcome="failed">${fmt(b.failed, { message: j.error?.message ?? j.status })}<div>${b.failedHint}</div></div>`;
    if (j.status === 'cancelled') return html`<div class="alert warning" role="status" data-outcome="cancelled">${b.cancelled}</div>`;
    if (j.status === 'queued' || j.status === 'dispatching') return html`<p class="muted" role="status">${b.queued}</p>`;
    const t = transfer(j.bytesDone, j.bytesTotal, j.startedAt);
    return html`<div role="status" aria-live="polite">
      <progress max="1" .value=${j.progress} aria-label=${en.backup.title.replace('{vm}', this.vm?.name ?? '')}></progress>
      <div data-testid="progress-text">${Math.round(j.progress * 100)} % · ${fmt(b.progress, { done: bytes(j.bytesDone), total: bytes(j.bytesTotal), rate: bytes(t.rate), eta: t.eta === null ? '—' : duration(t.eta) })}</div>
      ${j.currentDisk ? html`<div class="muted">${fmt(b.disk, { disk: j.currentDisk })}</div>` : nothing}
    </div>`;
  }

  override render() {
    const b = en.backup;
    const j = this.job;
    const running = !!j && !DONE.has(j.status);
    return html`<dialog aria-labelledby="backup-title" @close=${() => { if (!running) this.vm = undefined; }}>
      <header id="backup-title">${fmt(b.title, { vm: this.vm?.name ?? '' })}</header>
      <form class="body" @submit=${this.start}>
        ${this.error ? html`<div class="alert error" role="alert">${this.error}</div>` : nothing}
        ${j ? this.progress(j) : html`
          <fieldset><legend>${b.mode}</legend>
            ${(['auto', 'full'] as const).map((m) => html`<label><input type="radio" name="mode" value=${m} .checked=${this.mode === m} @change=${() => { this.mode = m; }}>${b.modes[m]}</label>`)}
          </fieldset>
          <label><input type="checkbox" .checked=${this.quiesce} @change=${(e: Event) => { this.quiesce = (e.target as HTMLInputElement).checked; }}>${b.quiesce}</label>`}
      </form>
      <footer>
        ${running ? html`<button class="danger" @click=${this.cancel} ?disabled=${j?.status === 'cancelling'}>${b.cancel}</button>` : nothing}
        ${!j ? html`<button class="primary" @click=${this.start} ?disabled=${this.busy}>${b.start}</button>` : nothing}
        <button @click=${this.close}>${b.close}</button>
      </footer>
    </dialog>`;
  }
}
customElements.define('sd-backup-dialog', SdBackupDialog);
