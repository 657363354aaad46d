/**
 * @layer adapter
 * The app shell: a header with the product, the section tabs and who is signed in; the current
 * view from the hash route; the sign-in when there is no live session. When the token expires
 * (a 401, or its expiry time) the sign-in is shown over the current view, which stays mounted,
 * so nothing typed is lost; after signing in again every view reloads its data.
 * Provides the API client and the signed-in user to the views (@lit/context).
 */
import { html, LitElement, css, nothing } from 'lit';
import { ContextProvider } from '@lit/context';
import { en } from '../i18n/en.ts';
import { apiContext, userContext } from '../context.ts';
import { isLive, type Api, type Session, type SessionStore } from '../api/types.ts';
import { fmt } from '../logic/format.ts';
import { href, parseRoute, type Route, type View } from '../logic/route.ts';
import { cloudStackSessionKey } from '../logic/sso.ts';
import { theme } from './theme.ts';
import { ref } from 'lit/directives/ref.js';
import type { SdSignIn, SignedInEvent } from './sign-in.ts';
import './sign-in.ts';
import './state-view.ts';
import './views/overview.ts';
import './views/vms.ts';
import './views/vm.ts';
import './views/policies.ts';
import './views/infrastructure.ts';
import './views/history.ts';

export interface AppServices { api: Api; session: SessionStore }

const TABS: { view: View; label: string; rootOnly?: boolean }[] = [
  { view: 'overview', label: en.app.nav.overview },
  { view: 'vms', label: en.app.nav.vms },
  { view: 'policies', label: en.app.nav.policies },
  { view: 'infrastructure', label: en.app.nav.infrastructure, rootOnly: true },
  { view: 'history', label: en.app.nav.history },
];

export class SdApp extends LitElement {
  static override styles = [theme, css`
    :host { display: flex; flex-direction: column; height: 100vh; background: var(--sd-bg-page); }
    header { display: flex; align-items: center; gap: 24px; padding: 0 24px; height: 48px; background: var(--sd-bg); border-bottom: 1px solid var(--sd-border); flex: none; }
    .brand { font-weight: 600; font-size: 16px; white-space: nowrap; }
    nav { display: flex; gap: 0; align-self: stretch; overflow-x: auto; }
    nav a { display: flex; align-items: center; padding: 0 16px; color: var(--sd-text); border-bottom: 2px solid transparent; white-space: nowrap; }
    nav a:hover { color: var(--sd-link); text-decoration: none; }
    nav a[aria-current='page'] { color: var(--sd-link); border-bottom-color: var(--sd-primary); }
    .who { margin-left: auto; display: flex; align-items: center; gap: 12px; white-space: nowrap; }
    main { flex: 1; overflow: auto; padding: 24px; min-height: 0; position: relative; }
    .overlay { position: fixed; inset: 0; background: rgba(0, 0, 0, 0.45); overflow: auto; z-index: 10; }
    @media (max-width: 720px) {
      header { flex-wrap: wrap; height: auto; gap: 8px; padding: 8px 12px; }
      nav { order: 3; width: 100%; }
      nav a { padding: 8px 10px; }
      main { padding: 12px; }
    }
  `];
  static override properties = { route: { state: true }, session: { state: true }, expired: { state: true }, generation: { state: true }, ssoPending: { state: true } };
  declare ssoPending: boolean;
  declare route: Route;
  declare session: Session | undefined;
  declare expired: boolean;
  declare generation: number;
  private services: AppServices | undefined;
  /** the domain path of the last sign-in, offered again when the session expires */
  private domain = '/';
  private apiProvider = new ContextProvider(this, { context: apiContext });
  private userProvider = new ContextProvider(this, { context: userContext });
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private onHash = () => { this.route = parseRoute(location.hash); };

  constructor() {
    super();
    this.route = parseRoute(location.hash);
    this.session = undefined;
    this.expired = false;
    this.generation = 0;
    this.ssoPending = false;
  }

  /** wires the API client and the session store (main.ts; tests pass fakes) */
  init(s: AppServices) {
    this.services = s;
    this.apiProvider.setValue(s.api);
    const cur = s.session.get();
    if (isLive(cur)) this.accept(cur);
    else {
      if (cur) s.session.clear();
      const key = cloudStackSessionKey(() => localStorage.getItem('primate__Access-Token'));
      if (key) void this.singleSignOn(key);
    }
    this.requestUpdate();
  }

  /**
   * Same-origin deployment: the browser sends CloudStack's JSESSIONID cookie with this request, the
   * body carries CloudStack's sessionkey, and Sendense checks both with CloudStack (docs/PLUGIN.md).
   * When that fails, the sign-in form stays.
   */
  private async singleSignOn(sessionkey: string) {
    if (!this.services) return;
    this.ssoPending = true;
    try {
      const r = await this.services.api.api.v1.auth.sso.$post({ json: { sessionkey } });
      if (r.ok) this.accept(await r.json());
    } catch { /* the form stays */ } finally {
      this.ssoPending = false;
    }
  }

  /** the token is no longer accepted: sign in again over the current view */
  expire() {
    if (!this.session || this.expired) return;
    this.expired = true;
    this.services?.session.clear();
  }

  override connectedCallback() {
    super.connectedCallback();
    window.addEventListener('hashchange', this.onHash);
  }
  override disconnectedCallback() {
    super.disconnectedCallback();
    window.removeEventListener('hashchange', this.onHash);
    clearTimeout(this.expiryTimer);
  }

  private accept(s: Session, domain?: string) {
    if (domain) this.domain = domain;
    const again = this.expired;
    this.session = s;
    this.expired = false;
    this.services?.session.set(s);
    this.userProvider.setValue(s.user);
    clearTimeout(this.expiryTimer);
    const ms = new Date(s.expiresAt).getTime() - Date.now() - 5_000;
    this.expiryTimer = setTimeout(() => this.expire(), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    if (again) this.generation++;
  }

  private signOut() {
    void this.services?.api.api.v1.auth.logout.$post().catch(() => undefined);
    this.services?.session.clear();
    clearTimeout(this.expiryTimer);
    this.session = undefined;
    this.expired = false;
    this.userProvider.setValue(undefined);
  }

  private view() {
    const r = this.route;
    const g = this.generation;
    switch (r.view) {
      case 'vms': return html`<sd-vms .query=${r.query} .generation=${g}></sd-vms>`;
      case 'vm': return html`<sd-vm .vmId=${r.id ?? ''} .generation=${g}></sd-vm>`;
      case 'policies': return html`<sd-policies .generation=${g}></sd-policies>`;
      case 'infrastructure': return html`<sd-infrastructure .generation=${g}></sd-infrastructure>`;
      case 'history': return html`<sd-history .query=${r.query} .generation=${g}></sd-history>`;
      default: return html`<sd-overview .generation=${g}></sd-overview>`;
    }
  }

  override render() {
    if (!this.services) return nothing;
    const s = this.session;
    if (!s) {
      if (this.ssoPending) return html`<main><sd-state kind="loading"></sd-state></main>`;
      return html`<main><sd-sign-in @signed-in=${(e: SignedInEvent) => this.accept(e.session, e.domain)}></sd-sign-in></main>`;
    }
    const u = s.user;
    const current = this.route.view === 'vm' ? 'vms' : this.route.view;
    return html`
      <header>
        <span class="brand" title=${en.app.title}>${en.app.product}</span>
        <nav aria-label=${en.app.navLabel}>
          ${TABS.filter((t) => !t.rootOnly || u.role === 'root-admin').map((t) => html`<a href=${href({ view: t.view })} aria-current=${t.view === current ? 'page' : 'false'}>${t.label}</a>`)}
        </nav>
        <span class="who"><span class="muted" data-testid="who">${fmt(en.app.signedInAs, { user: u.username, role: en.app.roles[u.role] ?? u.role })}</span>
          <button class="small" @click=${this.signOut}>${en.app.signOut}</button></span>
      </header>
      <main tabindex="0" ?inert=${this.expired}>${this.view()}</main>
      ${this.expired ? html`<div class="overlay" role="dialog" aria-modal="true" aria-label=${en.signIn.title}>
        <sd-sign-in expired @signed-in=${(e: SignedInEvent) => this.accept(e.session, e.domain)} ${ref((el) => (el as SdSignIn | undefined)?.prefill(u.username, this.domain))}></sd-sign-in></div>` : nothing}
    `;
  }
}
customElements.define('sd-app', SdApp);
