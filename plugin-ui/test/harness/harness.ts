/**
 * The component tests' page (built only by the tests): one view at a time under a provider of
 * the API client and the signed-in user (@lit/context), the client being the real typed one over
 * a fake fetch that answers what the test scripted per `METHOD /path` (or never, for a loading
 * state). `window.harness.mount(tag, props, user, answers)` from the test.
 */
import { LitElement, html } from 'lit';
import { ContextProvider } from '@lit/context';
import { apiContext, userContext } from '../../src/context.ts';
import { createApi } from '../../src/api/client.ts';
import { MemorySessionStore, type Session, type User } from '../../src/api/types.ts';
import '../../src/ui/views/overview.ts';
import '../../src/ui/views/vms.ts';
import '../../src/ui/views/vm.ts';
import '../../src/ui/views/policies.ts';
import '../../src/ui/views/infrastructure.ts';
import '../../src/ui/views/history.ts';

export type Answer = { status: number; body?: unknown } | 'hang';

class SdHarness extends LitElement {
  apiProvider = new ContextProvider(this, { context: apiContext });
  userProvider = new ContextProvider(this, { context: userContext });
  override render() { return html`<slot></slot>`; }
}
customElements.define('sd-harness', SdHarness);

const requests: string[] = [];

function mount(tag: string, props: Record<string, unknown>, user: User, answers: Record<string, Answer>) {
  const root = document.getElementById('root')!;
  root.replaceChildren();
  requests.length = 0;
  const session = new MemorySessionStore({ token: 'fake', expiresAt: new Date(Date.now() + 3_600_000).toISOString(), user } as Session);
  const api = createApi({
    base: location.origin + '/',
    session,
    onExpired: () => { document.body.dataset.expired = 'true'; },
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const key = `${(init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase()} ${url.pathname}`;
      requests.push(`${key}${url.search}`);
      const a = answers[key];
      if (a === 'hang') return new Promise<Response>(() => {});
      if (!a) return new Response(JSON.stringify({ error: { code: 'not_found', message: `harness: no answer for ${key}` } }), { status: 404, headers: { 'content-type': 'application/json' } });
      return new Response(a.body === undefined ? null : JSON.stringify(a.body), { status: a.status, headers: { 'content-type': 'application/json' } });
    },
  });
  const h = document.createElement('sd-harness') as SdHarness;
  h.apiProvider.setValue(api);
  h.userProvider.setValue(user);
  const view = document.createElement(tag);
  Object.assign(view, props);
  h.appendChild(view);
  root.appendChild(h);
}

(globalThis as unknown as { harness: unknown }).harness = { mount, requests };
