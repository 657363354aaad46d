/**
 * @layer adapter
 * The sign-in form for the other-origin deployment: CloudStack username, password and domain,
 * then CloudStack's two-factor code when the API answers that one is needed. Checks input as
 * typed, shows the API's own message when it refuses, keeps what was typed on any failure.
 * Emits `signed-in` (detail: the Session) when done.
 */
import { html, LitElement, css } from 'lit';
import { ContextConsumer } from '@lit/context';
import { en } from '../i18n/en.ts';
import { ApiFailure, failureOf, messageOf } from '../api/failure.ts';
import { apiContext } from '../context.ts';
import type { Session } from '../api/types.ts';
import { fmt } from '../logic/format.ts';
import { theme } from './theme.ts';

export class SignedInEvent extends Event {
  constructor(readonly session: Session, readonly domain: string) { super('signed-in', { bubbles: true, composed: true }); }
}

/** a sign-in answer that asks for the second factor instead of giving a token */
interface SecondStep { twoFactor: { challenge: string; expiresAt?: string; issuer?: string } }
function isSecondStep(x: unknown): x is SecondStep {
  return typeof x === 'object' && x !== null && 'twoFactor' in x && typeof (x as SecondStep).twoFactor?.challenge === 'string';
}

export class SdSignIn extends LitElement {
  static override styles = [theme, css`
    :host { display: block; }
    .card { max-width: 420px; margin: 48px auto; padding: 32px; }
    input { max-width: none; }
  `];
  static override properties = {
    expired: { type: Boolean },
    username: { state: true }, password: { state: true }, domain: { state: true }, code: { state: true },
    step: { state: true }, busy: { state: true }, error: { state: true }, touched: { state: true },
  };
  declare expired: boolean;
  declare username: string;
  declare password: string;
  declare domain: string;
  declare code: string;
  declare step: 'credentials' | 'code';
  declare busy: boolean;
  declare error: string;
  declare touched: Record<string, boolean>;
  private challenge = '';
  private api = new ContextConsumer(this, { context: apiContext, subscribe: true });

  constructor() {
    super();
    this.expired = false;
    this.username = '';
    this.password = '';
    this.domain = '/';
    this.code = '';
    this.step = 'credentials';
    this.busy = false;
    this.error = '';
    this.touched = {};
  }

  /** the user name to start from (a session that expired) */
  prefill(username: string, domain?: string) {
    if (this.username) return;
    this.username = username;
    if (domain) this.domain = domain;
  }

  private invalid(field: 'username' | 'password' | 'domain' | 'code'): string {
    const v = this[field].trim();
    const s = en.signIn;
    if (!v) return fmt(s.required, { field: s[field] });
    if (field === 'domain' && !v.startsWith('/')) return s.domainHint;
    if (field === 'code' && !/^\d{4,10}$/.test(v)) return s.codeHint;
    return '';
  }

  private async submit(e: Event) {
    e.preventDefault();
    const fields = this.step === 'credentials' ? (['username', 'password', 'domain'] as const) : (['code'] as const);
    this.touched = Object.fromEntries(fields.map((f) => [f, true]));
    if (fields.some((f) => this.invalid(f))) return;
    const api = this.api.value;
    if (!api) return;
    this.busy = true;
    this.error = '';
    try {
      const body = this.step === 'credentials'
        ? { username: this.username.trim(), password: this.password, domain: this.domain.trim() }
        : { username: this.username.trim(), password: this.password, domain: this.domain.trim(), challenge: this.challenge, code: this.code.trim() };
      const r = await api.api.v1.auth.login.$post({ json: body as { username: string; password: string; domain: string } });
      const answer: unknown = r.ok ? await r.json() : undefined;
      if (!r.ok) {
        throw await failureOf(r);
      }
      if (isSecondStep(answer)) {
        this.challenge = answer.twoFactor.challenge;
        this.step = 'code';
        this.touched = {};
        return;
      }
      this.password = '';
      this.code = '';
      this.step = 'credentials';
      this.dispatchEvent(new SignedInEvent(answer as Session, this.domain.trim()));
    } catch (err) {
      this.error = err instanceof ApiFailure ? err.message : messageOf(err);
      // a refused code ends CloudStack's half-open session: the password step again (what was typed stays)
      if (this.step === 'code' && err instanceof ApiFailure && err.status === 401) { this.step = 'credentials'; this.code = ''; }
    } finally {
      this.busy = false;
    }
  }

  private input(field: 'username' | 'password' | 'domain' | 'code', type: string, autocomplete: string, hint?: string) {
    const s = en.signIn;
    const bad = this.touched[field] ? this.invalid(field) : '';
    return html`<div class="field">
      <label for=${field}>${s[field]}</label>
      <input id=${field} name=${field} type=${type} autocomplete=${autocomplete} .value=${this[field]}
        aria-invalid=${bad ? 'true' : 'false'} aria-describedby=${`${field}-msg`}
        @input=${(ev: Event) => { this[field] = (ev.target as HTMLInputElement).value; }}
        @blur=${() => { this.touched = { ...this.touched, [field]: true }; }}>
      <div id=${`${field}-msg`} class=${bad ? 'invalid' : 'hint'}>${bad || hint || ''}</div>
    </div>`;
  }

  override render() {
    const s = en.signIn;
    return html`<form class="card" @submit=${this.submit} novalidate aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">${s.title}</h1>
      ${this.expired ? html`<div class="alert warning" role="status">${s.expired}</div>` : ''}
      ${this.error ? html`<div class="alert error" role="alert" data-testid="sign-in-error">${this.error}</div>` : ''}
      ${this.step === 'credentials'
        ? html`${this.input('username', 'text', 'username')}${this.input('password', 'password', 'current-password')}${this.input('domain', 'text', 'off', s.domainHint)}`
        : this.input('code', 'text', 'one-time-code', s.codeHint)}
      <button class="primary" type="submit" ?disabled=${this.busy}>${this.busy ? s.busy : this.step === 'code' ? s.verify : s.submit}</button>
    </form>`;
  }
}
customElements.define('sd-sign-in', SdSignIn);
