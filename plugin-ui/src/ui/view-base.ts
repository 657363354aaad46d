/**
 * @layer adapter
 * What every view shares: the API client and the signed-in user from context, the shell's
 * `generation` (bumped after a new sign-in, so tasks that failed on an expired token run again)
 * and the theme.
 */
import { LitElement, type CSSResultGroup, type PropertyDeclarations } from 'lit';
import { ContextConsumer } from '@lit/context';
import { apiContext, userContext } from '../context.ts';
import type { Api, User } from '../api/types.ts';
import { theme } from './theme.ts';

export class ViewBase extends LitElement {
  static override styles: CSSResultGroup = [theme];
  static override properties: PropertyDeclarations = { generation: { type: Number } };
  declare generation: number;
  protected apiCtx = new ContextConsumer(this, { context: apiContext, subscribe: true });
  protected userCtx = new ContextConsumer(this, { context: userContext, subscribe: true });

  constructor() {
    super();
    this.generation = 0;
  }

  get api(): Api {
    const a = this.apiCtx.value;
    if (!a) throw new Error('[plugin-ui] no API client in context: the view must be inside <sd-app> (or a test provider)');
    return a;
  }
  get user(): User | undefined { return this.userCtx.value; }
  get isAdmin() { return this.user?.role === 'root-admin' || this.user?.role === 'domain-admin'; }
  get isRoot() { return this.user?.role === 'root-admin'; }
}
