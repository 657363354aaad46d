/**
 * @layer adapter
 * A CloudStack-4.2x-like host page for the plug-in (what `sendense demo` prints and the browser
 * tests open): CloudStack's left menu with the plug-in's entry, and the plug-in route as
 * CloudStack's UI renders it — nothing but an iframe of the plug-in's URL at 90vh, no sandbox.
 * Served on its own origin (the plug-in's other-origin deployment), which is the one origin the
 * control plane's `plugin.uiOrigins` must name for the frame to be allowed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** the page, with the plug-in at `pluginUrl` in its iframe */
export function hostPageHtml(pluginUrl: string, label = 'VM protection'): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>CloudStack</title><meta name="color-scheme" content="light dark">
<style>
  body { margin: 0; font: 14px -apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; display: flex; height: 100vh; overflow: hidden; }
  aside { width: 256px; background: #001529; color: rgba(255,255,255,.65); flex: none; }
  aside .logo { height: 64px; display: flex; align-items: center; padding: 0 24px; color: #fff; font-size: 18px; }
  aside a { display: block; padding: 0 24px; line-height: 40px; color: inherit; text-decoration: none; }
  aside a.on { background: #1890ff; color: #fff; }
  .right { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  .top { height: 64px; background: #fff; box-shadow: 0 1px 4px rgba(0,21,41,.08); flex: none; }
  .content { flex: 1; overflow: auto; padding: 24px; background: #f0f2f5; }
  @media (prefers-color-scheme: dark) { .top { background: #141414; } .content { background: #000; } }
</style></head><body>
<aside><div class="logo">CloudStack</div><a href="#">Dashboard</a><a href="#">Compute</a><a href="#">Storage</a><a href="#">Network</a>
<a class="on" href="#/plugins/${encodeURIComponent(label)}">${esc(label)}</a><a href="#">Accounts</a><a href="#">Infrastructure</a></aside>
<div class="right"><div class="top"></div><div class="content"><iframe src="${esc(pluginUrl)}" title="${esc(label)}" style="height:90vh;width:100%;border:none"></iframe></div></div>
</body></html>`;
}

export interface HostPage {
  /** http://localhost:PORT/ — `localhost`, so it is another origin than a control plane on 127.0.0.1 */
  url: string;
  /** the origin for `plugin.uiOrigins` */
  origin: string;
  close(): Promise<void>;
}

/** serves the page on 127.0.0.1:`port` (0: any free port); the plug-in URL may be given later (it is known once the control plane listens) */
export async function serveHostPage(pluginUrl: string | (() => string), port = 0): Promise<HostPage> {
  const server: Server = createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
    res.end(hostPageHtml(typeof pluginUrl === 'string' ? pluginUrl : pluginUrl()));
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${p}/`, origin: `http://localhost:${p}`,
    close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
