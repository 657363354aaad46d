/**
 * @layer adapter
 * Overview: the exact figures the API counts (GET /api/v1/overview: VMs protected, unprotected
 * and failing, the last 24 h of backups by outcome, bytes stored per day), storage used and agents
 * in trouble (for root admins: the API refuses others). Each number links to the list behind it:
 * the VM list filtered the same way, the history (newest first), the infrastructure.
 */
import { html, css, nothing } from 'lit';
import { Task } from '@lit/task';
import { en } from '../../i18n/en.ts';
import { ok } from '../../api/failure.ts';
import { bytes, fmt } from '../../logic/format.ts';
import { href } from '../../logic/route.ts';
import { ViewBase } from '../view-base.ts';
import { taskView } from '../state-view.ts';
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
      const root = this.isRoot;
      const o = await ok(v1.overview.$get({}, init));
      const [repos, agents] = root
        ? await Promise.all([ok(v1.repositories.$get({}, init)), ok(v1.agents.$get({}, init))])
        : [undefined, undefined];
      return { o, repos: repos?.items, agents: agents?.items };
    },
    args: () => [this.generation] as const,
  });

  override render() {
    const o = en.overview;
    return html`<h1>${o.title}</h1>${taskView(this.data, (d) => html`
      <div class="grid">
        <a class="stat" href=${href({ view: 'vms' })} data-testid="stat-vms"><div class="n">${d.o.vms.total}</div><div class="l">${en.vms.title}</div></a>
        <a class="stat" href=${href({ view: 'vms', query: { protection: 'protected' } })} data-testid="stat-protected"><div class="n">${d.o.vms.protected}</div><div class="l">${o.protected}</div></a>
        <a class="stat" href=${href({ view: 'vms', query: { protection: 'unprotected' } })} data-testid="stat-unprotected"><div class="n">${d.o.vms.unprotected}</div><div class="l">${o.unprotected}</div></a>
        <a class="stat" href=${href({ view: 'vms', query: { protection: 'failing' } })} data-testid="stat-failing"><div class="n">${d.o.vms.failing}</div><div class="l">${o.failing}</div></a>
        <a class="stat" href=${href({ view: 'history' })} data-testid="stat-jobs"><div class="n">${d.o.jobs24h.total}</div>
          <div class="l">${o.jobs24h}: ${d.o.jobs24h.succeeded} ${o.succeeded}, ${d.o.jobs24h.failed} ${o.failed}, ${d.o.jobs24h.running} ${o.running}</div></a>
        ${d.repos ? html`<a class="stat" href=${href({ view: 'infrastructure' })} data-testid="stat-storage">
          <div class="n">${bytes(d.repos.reduce((a, r) => a + r.usage.total.bytes, 0))}</div>
          <div class="l">${o.storage} · ${fmt(o.points, { n: d.repos.reduce((a, r) => a + r.usage.total.points, 0) })}</div></a>` : nothing}
        ${d.agents ? html`<a class="stat" href=${href({ view: 'infrastructure' })} data-testid="stat-agents">
          <div class="n">${d.agents.filter((a) => a.status !== 'active').length}</div>
          <div class="l">${d.agents.some((a) => a.status !== 'active') ? o.agentsTrouble : o.noAgentsTrouble}</div></a>` : nothing}
      </div>
      ${d.o.trend.some((t) => t.bytes > 0) ? html`<div class="card"><h2>${o.trend}</h2>
        <sd-usage-chart kind="bar" .labels=${d.o.trend.map((t) => t.day)} .series=${[{ label: o.trend, values: d.o.trend.map((t) => t.bytes) }]}></sd-usage-chart></div>` : nothing}
    `)}`;
  }
}
customElements.define('sd-overview', SdOverview);
