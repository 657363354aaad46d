/**
 * @layer adapter
 * Policies: the list with schedule, chain rules, retention, verification, next run and what
 * each is assigned to; admins create and edit them (checked as typed, the API's message when it
 * refuses) and assign them to a VM, account, zone or tag. Others see them read-only.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { done, ok, messageOf } from '../../api/failure.ts';
import type { Policy } from '../../api/dto.ts';
import { dateTime } from '../../logic/format.ts';
import { policyForm, policyProblems, toPolicyBody, type PolicyForm } from '../../logic/policy-form.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';

type Kind = 'vm' | 'zone' | 'account' | 'tag';

export class SdPolicies extends ViewBase {
  static override styles = [ViewBase.styles, css`
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 0 16px; }
    input { max-width: none; }
  `];
  static override properties = { ...ViewBase.properties, editing: { state: true }, form: { state: true }, error: { state: true }, notice: { state: true }, assign: { state: true } };
  declare editing: string | 'new' | undefined;
  declare form: PolicyForm;
  declare error: string;
  declare notice: string;
  declare assign: Record<string, { kind: Kind; target: string }>;

  constructor() {
    super();
    this.editing = undefined;
    this.form = policyForm();
    this.error = '';
    this.notice = '';
    this.assign = {};
  }

  private data = new Task(this, {
    task: async ([], { signal }) => (await ok(this.api.api.v1.policies.$get({}, { init: { signal } }))).items,
    args: () => [this.generation] as const,
  });

  private edit(p?: Policy) {
    this.editing = p ? p.id : 'new';
    this.form = policyForm(p);
    this.error = '';
  }

  private async save(e: Event) {
    e.preventDefault();
    if (policyProblems(this.form).length) { this.error = policyProblems(this.form).join('; '); return; }
    this.error = '';
    try {
      const body = toPolicyBody(this.form);
      const v1 = this.api.api.v1;
      if (this.editing === 'new') await ok(v1.policies.$post({ json: body }));
      else if (this.editing) await ok(v1.policies[':id'].$patch({ param: { id: this.editing }, json: body }));
      this.editing = undefined;
      this.notice = en.policies.saved;
      void this.data.run();
    } catch (err) {
      this.error = messageOf(err);
    }
  }

  private async removePolicy(p: Policy) {
    try {
      await done(this.api.api.v1.policies[':id'].$delete({ param: { id: p.id } }));
      this.error = '';
    } catch (err) {
      this.error = messageOf(err);
    }
    void this.data.run();
  }

  private async addAssignment(p: Policy) {
    const a = this.assign[p.id] ?? { kind: 'vm', target: '' };
    const t = a.target.trim();
    let json: { kind: 'vm'; vmId: string } | { kind: 'zone'; zoneId: string } | { kind: 'account'; domainId: string; account: string } | { kind: 'tag'; key: string; value: string };
    if (a.kind === 'vm') json = { kind: 'vm', vmId: t };
    else if (a.kind === 'zone') json = { kind: 'zone', zoneId: t };
    else if (a.kind === 'account') json = { kind: 'account', domainId: t.split('/')[0] ?? '', account: t.split('/').slice(1).join('/') };
    else json = { kind: 'tag', key: t.split('=')[0] ?? '', value: t.split('=').slice(1).join('=') };
    try {
      await ok(this.api.api.v1.policies[':id'].assignments.$post({ param: { id: p.id }, json }));
      this.assign = { ...this.assign, [p.id]: { kind: a.kind, target: '' } };
      this.error = '';
      void this.data.run();
    } catch (err) {
      this.error = messageOf(err);
    }
  }

  private async unassign(p: Policy, id: string) {
    try {
      await done(this.api.api.v1.policies[':id'].assignments[':assignmentId'].$delete({ param: { id: p.id, assignmentId: id } }));
      this.error = '';
    } catch (err) {
      this.error = messageOf(err);
    }
    void this.data.run();
  }

  private field(key: keyof PolicyForm, label: string, type = 'text') {
    const f = this.form;
    const problems = policyProblems(f, key);
    if (type === 'checkbox') {
      return html`<div class="field"><label><input type="checkbox" .checked=${Boolean(f[key])} @change=${(e: Event) => { this.form = { ...f, [key]: (e.target as HTMLInputElement).checked }; }}>${label}</label></div>`;
    }
    return html`<div class="field"><label for=${`pf-${key}`}>${label}</label>
      <input id=${`pf-${key}`} type=${type} .value=${String(f[key] ?? '')} aria-invalid=${problems.length ? 'true' : 'false'}
        @input=${(e: Event) => { this.form = { ...f, [key]: (e.target as HTMLInputElement).value }; }}>
      ${problems.length ? html`<div class="invalid">${problems.join('; ')}</div>` : nothing}</div>`;
  }

  private editor() {
    const s = en.policies;
    return html`<form class="card" @submit=${this.save} aria-label=${this.editing === 'new' ? s.create : s.edit} novalidate>
      <h2>${this.editing === 'new' ? s.create : s.edit}</h2>
      ${this.error ? html`<div class="alert error" role="alert">${this.error}</div>` : nothing}
      <div class="grid">
        ${this.field('name', s.name)}${this.field('description', s.description)}${this.field('schedule', s.schedule)}${this.field('timezone', s.timezone)}
        ${this.field('fullEvery', s.fullEvery, 'number')}${this.field('maxChainLength', s.maxChain, 'number')}
      </div>
      <h3>${s.retention}</h3>
      <div class="grid">${this.field('keepLast', s.keepLast, 'number')}${this.field('keepDaily', s.keepDaily, 'number')}${this.field('keepWeekly', s.keepWeekly, 'number')}
        ${this.field('keepMonthly', s.keepMonthly, 'number')}${this.field('maxAgeDays', s.maxAgeDays, 'number')}</div>
      <div class="grid">${this.field('verifySchedule', s.verifySchedule)}${this.field('verifyRestoreTest', s.verifyRestoreTest, 'checkbox')}${this.field('enabled', s.enabled, 'checkbox')}</div>
      <div class="row"><button class="primary" type="submit">${s.save}</button><button type="button" @click=${() => { this.editing = undefined; }}>${s.cancel}</button></div>
    </form>`;
  }

  override render() {
    const s = en.policies;
    const admin = this.isAdmin;
    return html`<div class="row"><h1>${s.title}</h1><span class="spacer"></span>
        ${admin ? html`<button class="primary" @click=${() => this.edit()}>${s.create}</button>` : html`<span class="muted">${s.adminsOnly}</span>`}</div>
      ${this.notice ? html`<div class="alert success" role="status">${this.notice}</div>` : nothing}
      ${this.editing ? this.editor() : this.error ? html`<div class="alert error" role="alert">${this.error}</div>` : nothing}
      ${taskView(this.data, (items) => items.length === 0 ? html`<sd-state kind="empty" message=${s.none}></sd-state>` : html`<div class="table-wrap"><table aria-label=${s.title}>
        <thead><tr><th scope="col">${s.name}</th><th scope="col">${s.schedule}</th><th scope="col">${s.fullEvery}</th><th scope="col">${s.retention}</th>
          <th scope="col">${s.nextRun}</th><th scope="col">${s.assignments}</th>${admin ? html`<th scope="col"></th>` : nothing}</tr></thead>
        <tbody>${items.map((p) => {
          const a = this.assign[p.id] ?? { kind: 'vm' as Kind, target: '' };
          return html`<tr data-policy=${p.name}>
            <td>${p.name}${p.enabled ? nothing : html` <span class="tag warn">off</span>`}<div class="muted">${p.description}</div></td>
            <td><code>${p.schedule}</code> ${p.timezone}${p.verifySchedule ? html`<div class="muted">verify: <code>${p.verifySchedule}</code></div>` : nothing}</td>
            <td>${p.fullEvery} / ${p.maxChainLength}</td>
            <td>${Object.entries(p.retention).map(([k, v]) => html`<div>${k}: ${v}</div>`)}</td>
            <td>${dateTime(p.nextRunAt)}</td>
            <td>${p.assignments.map((x) => html`<div><span class="tag">${x.kind}</span> ${x.target}
              ${admin ? html`<button class="small" @click=${() => this.unassign(p, x.id)}>${s.unassign}</button>` : nothing}</div>`)}
              ${admin ? html`<div class="row">
                <label class="muted" for=${`ak-${p.id}`}>${s.assignKind}</label>
                <select id=${`ak-${p.id}`} style="width:auto" @change=${(e: Event) => { this.assign = { ...this.assign, [p.id]: { ...a, kind: (e.target as HTMLSelectElement).value as Kind } }; }}>
                  ${(['vm', 'account', 'zone', 'tag'] as const).map((k) => html`<option value=${k} ?selected=${a.kind === k}>${k}</option>`)}</select>
                <input type="text" aria-label=${s.assignTarget} placeholder=${s.assignHint[a.kind]} .value=${a.target} style="width:200px"
                  @input=${(e: Event) => { this.assign = { ...this.assign, [p.id]: { ...a, target: (e.target as HTMLInputElement).value } }; }}>
                <button class="small" @click=${() => this.addAssignment(p)} ?disabled=${!a.target.trim()}>${s.assign}</button></div>` : nothing}</td>
            ${admin ? html`<td><div class="actions"><button class="small" @click=${() => this.edit(p)}>${s.edit}</button><button class="small danger" @click=${() => this.removePolicy(p)}>${s.delete}</button></div></td>` : nothing}
          </tr>`;
        })}</tbody></table></div>`)}`;
  }
}
customElements.define('sd-policies', SdPolicies);
