/**
 * @layer adapter
 * Infrastructure (root admins; the API refuses anyone else, which shows as permission denied):
 * KVM hosts with their agents (status, version, last heartbeat, message), repositories with
 * their usage by source platform as a chart, and the audit log.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import { bytes, dateTime, relative } from '../../logic/format.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { statusTag } from '../tags.ts';
import '../usage-chart.ts';

export class SdInfrastructure extends ViewBase {
  static override styles = [ViewBase.styles, css`section { margin-bottom: 24px; }`];

  private hosts = new Task(this, {
    task: async ([], { signal }) => (await ok(this.api.api.v1.hosts.$get({}, { init: { signal } }))).items,
    args: () => [this.generation] as const,
  });
  private repos = new Task(this, {
    task: async ([], { signal }) => (await ok(this.api.api.v1.repositories.$get({}, { init: { signal } }))).items,
    args: () => [this.generation] as const,
  });
  private audit = new Task(this, {
    task: async ([], { signal }) => (await ok(this.api.api.v1.audit.$get({ query: { limit: '50' } }, { init: { signal } }))).items,
    args: () => [this.generation] as const,
  });

  override render() {
    const s = en.infra;
    return html`<h1>${s.title}</h1>
      <section class="card"><h2>${s.hosts}</h2>${taskView(this.hosts, (hosts) => hosts.length === 0 ? html`<sd-state kind="empty"></sd-state>` : html`<div class="table-wrap"><table>
        <thead><tr><th scope="col">${s.host}</th><th scope="col">${s.ip}</th><th scope="col">${s.status}</th><th scope="col">${s.version}</th><th scope="col">${s.heartbeat}</th>
          <th scope="col">${s.vms}</th><th scope="col">${s.jobs}</th><th scope="col">${s.message}</th></tr></thead>
        <tbody>${hosts.map((h) => html`<tr data-host=${h.name}><td>${h.name}<div class="muted">${h.state ?? ''} ${h.hypervisorVersion ?? ''}</div></td><td>${h.ip ?? '—'}</td>
          <td>${h.agent ? statusTag(h.agent.status) : statusTag('unknown', s.noAgent)}</td><td>${h.agent?.agentVersion ?? '—'}</td>
          <td>${h.agent?.lastHeartbeatAt ? relative(h.agent.lastHeartbeatAt) : '—'}</td><td>${h.vms}</td><td>${h.activeJobs}</td><td class="muted">${h.agent?.statusMessage ?? ''}</td></tr>`)}</tbody></table></div>`)}</section>
      <section class="card"><h2>${s.repositories}</h2>${taskView(this.repos, (repos) => repos.length === 0 ? html`<sd-state kind="empty"></sd-state>` : html`
        <div class="table-wrap"><table><thead><tr><th scope="col">${s.repository}</th><th scope="col">${s.url}</th><th scope="col">${s.used}</th><th scope="col">${s.capacity}</th><th scope="col">${en.vm.points}</th></tr></thead>
          <tbody>${repos.map((r) => html`<tr data-repo=${r.name}><td>${r.name}${r.isDefault ? html` <span class="tag info">default</span>` : nothing}</td><td><code>${r.url}</code></td>
            <td>${bytes(r.usage.total.bytes)}</td><td>${bytes(r.capacityBytes)}</td><td>${r.usage.total.points}</td></tr>`)}</tbody></table></div>
        ${repos.map((r) => {
          const entries = Object.entries(r.usage.bySourcePlatform).filter(([, u]) => u.bytes > 0);
          return entries.length ? html`<h3>${s.usageChart}: ${r.name}</h3>
            <sd-usage-chart kind="doughnut" .labels=${entries.map(([k]) => k)} .series=${[{ label: `${s.usageChart}: ${r.name}`, values: entries.map(([, u]) => u.bytes) }]}></sd-usage-chart>` : nothing;
        })}`)}</section>
      <section class="card"><h2>${s.audit}</h2>${taskView(this.audit, (items) => items.length === 0 ? html`<sd-state kind="empty"></sd-state>` : html`<div class="table-wrap"><table>
        <thead><tr><th scope="col">${s.at}</th><th scope="col">${s.actor}</th><th scope="col">${s.action}</th><th scope="col">${s.target}</th><th scope="col">${s.outcome}</th></tr></thead>
        <tbody>${items.map((a) => html`<tr><td>${dateTime(a.at)}</td><td>${a.actor} <span class="muted">${a.via} ${a.ip ?? ''}</span></td><td>${a.action}</td>
          <td>${a.targetType ?? ''} <span class="muted">${a.targetId ?? ''}</span></td><td>${statusTag(a.outcome)}</td></tr>`)}</tbody></table></div>`)}</section>`;
  }
}
customElements.define('sd-infrastructure', SdInfrastructure);
