/**
 * @layer logic
 * The plug-in's routes as hash URLs (`#/vms?search=web&page=2`): CloudStack shows the plug-in in
 * an iframe, so the hash keeps each view addressable and the browser's back button working
 * without touching CloudStack's own URL.
 */
export const VIEWS = ['overview', 'vms', 'vm', 'policies', 'infrastructure', 'history'] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  view: View;
  /** the VM id of the vm view */
  id?: string;
  query: Record<string, string>;
}

export function parseRoute(hash: string): Route {
  const h = hash.replace(/^#\/?/, '');
  const [p, qs = ''] = h.split('?', 2);
  const parts = p.split('/').filter(Boolean).map((x) => decodeURIComponent(x));
  const query = Object.fromEntries(new URLSearchParams(qs));
  if (parts[0] === 'vms' && parts[1]) return { view: 'vm', id: parts[1], query };
  const view = (VIEWS as readonly string[]).includes(parts[0] ?? '') && parts[0] !== 'vm' ? (parts[0] as View) : 'overview';
  return { view, query };
}

export function href(r: { view: View; id?: string; query?: Record<string, string | number | undefined> }): string {
  const base = r.view === 'vm' ? `#/vms/${encodeURIComponent(r.id ?? '')}` : `#/${r.view}`;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(r.query ?? {})) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${base}?${s}` : base;
}
