/**
 * @layer adapter
 * Overview: VMs seen, VMs whose last backup failed, the last 24 h of backups by outcome, storage
 * used with its per-day trend, agents in trouble (the last two for root admins: the API refuses
 * others). Each number links to the list behind it.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import { bytes, fmt } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
import { jobSummary } from '../../logic/summary.ts';
import '../usage-chart.ts';

export class SdOverview extends ViewBase {
  static override styles = [ViewBase.styles, css`
    .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 16px; margin-bottom: 16px; }
    .stat { display: block; background: var(--sd-bg); border: 1px solid var(--sd-border); padding: 16px 24px; color: var(--sd-text); }
    .stat:hover { border-color: var(--sd-primary); text-decoration: none; }
    .stat .n { font-size: 30px; line-height: 38px; }
    .stat .l { color: var(--sd-text-2); }
  `];

  private data = new Task(this, {
    task: async ([, ], { signal }) => {
      const v1 = this.api.api.v1;
      const init = { init: { signal } };
      const [vms, jobs] = await Promise.all([
        ok(v1.vms.$get({ query: { limit: '1' } }, init)),
        ok(v1.jobs.$get({ query: { limit: '500' } }, init)),
      ]);
      const root = this.isRoot;
      const [repos, agents] = root
        ? await Promise.all([ok(v1.repositories.$get({}, init)), ok(v1.agents.$get({}, init))])
        : [undefined, undefined];
      return { vms: vms.total, jobs: jobSummary(jobs.items, new Date()), repos: repos?.items, agents: agents?.items };
    },
    args: () => [this.generation] as const,
  });

  override render() {
    const o = en.overview;
    return html`<h1>${o.title}</h1>${taskView(this.data, (d) => html`
      <div class="grid">
        <a class="stat" href=${href({ view: 'vms' })} data-testid="stat-vms"><div class="n">${d.vms}</div><div class="l">${en.vms.title}</div></a>
        <a class="stat" href=${href({ view: 'history', query: { status: 'succeeded' } })} data-testid="stat-protected"><div class="n">${d.jobs.protectedVms}</div><div class="l">${o.protected}</div></a>
        <a class="stat" href=${href({ view: 'vms' })} data-testid="stat-unprotected"><div class="n">${Math.max(0, d.vms - d.jobs.protectedVms)}</div><div class="l">${o.unprotected}</div></a>
        <a class="stat" href=${href({ view: 'history', query: { status: 'failed' } })} data-testid="stat-failing"><div class="n">${d.jobs.failingVms}</div><div class="l">${o.failing}</div></a>
        <a class="stat" href=${href({ view: 'history' })} data-testid="stat-jobs"><div class="n">${d.jobs.last24h.total}</div>
          <div class="l">${o.jobs24h}: ${d.jobs.last24h.succeeded} ${o.succeeded}, ${d.jobs.last24h.failed} ${o.failed}, ${d.jobs.last24h.running} ${o.running}</div></a>
        ${d.repos ? html`<a class="stat" href=${href({ view: 'infrastructure' })} data-testid="stat-storage">
          <div class="n">${bytes(d.repos.reduce((a, r) => a + r.usage.total.bytes, 0))}</div>
          <div class="l">${o.storage} · ${fmt(o.points, { n: d.repos.reduce((a, r) => a + r.usage.total.points, 0) })}</div></a>` : nothing}
        ${d.agents ? html`<a class="stat" href=${href({ view: 'infrastructure' })} data-testid="stat-agents">
          <div class="n">${d.agents.filter((a) => a.status !== 'active').length}</div>
          <div class="l">${d.agents.some((a) => a.status !== 'active') ? o.agentsTrouble : o.noAgentsTrouble}</div></a>` : nothing}
      </div>
      ${d.jobs.trend.length ? html`<div class="card"><h2>${o.trend}</h2>
        <sd-usage-chart kind="bar" .labels=${d.jobs.trend.map((t) => t.day)} .series=${[{ label: o.trend, values: d.jobs.trend.map((t) => t.bytes) }]}></sd-usage-chart></div>` : nothing}
    `)}`;
  }
}
customElements.define('sd-overview', SdOverview);
