/**
 * @layer adapter
 * The CloudStack UI plug-in's built files (plugin-ui/dist, `npm run build:plugin`) at /plugin/:
 * index.html never cached (a new build is picked up at the next load), the hashed assets cached
 * for a year. Only files inside the build folder are served. Without a build, /plugin/ answers
 * 503 saying how to make one. Framing and CORS are the app's middleware's business. `/plugin`
 * redirects to `plugin/`, relative: behind a proxy prefix (`/client/sendense/plugin`, the prefix
 * stripped by the proxy) the browser lands on `/client/sendense/plugin/`, not on the proxy's `/plugin/`.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.woff2': 'font/woff2',
};

/** where the build is: SENDENSE_PLUGIN_DIR, else plugin-ui/dist beside this source tree */
export function defaultPluginDir(): string {
  return process.env.SENDENSE_PLUGIN_DIR ?? path.resolve(import.meta.dirname, '../../plugin-ui/dist');
}

export function pluginStatic(dir: string = defaultPluginDir()) {
  const root = path.resolve(dir);
  const file = async (rel: string) => {
    const p = path.resolve(root, `.${path.posix.normalize(`/${rel}`)}`);
    if (p !== root && !p.startsWith(root + path.sep)) return undefined;
    try {
      const s = await stat(p);
      return s.isFile() ? { p, body: await readFile(p) } : undefined;
    } catch {
      return undefined;
    }
  };
  return new Hono()
    .get('/plugin', (c) => c.redirect('plugin/', 301))
    .get('/plugin/*', async (c) => {
      let rel = decodeURIComponent(c.req.path.slice('/plugin/'.length));
      if (rel === '' || rel.endsWith('/')) rel += 'index.html';
      const f = await file(rel);
      if (!f) {
        if (!(await file('index.html'))) {
          return c.json({ error: { code: 'unavailable', message: `the plug-in is not built (no ${path.join(root, 'index.html')}): run \`npm run build:plugin\`` } }, 503);
        }
        return c.json({ error: { code: 'not_found', message: `no file ${rel} in the plug-in` } }, 404);
      }
      const type = TYPES[path.extname(f.p)] ?? 'application/octet-stream';
      const cache = rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
      return c.body(new Uint8Array(f.body), 200, { 'content-type': type, 'cache-control': cache, 'x-content-type-options': 'nosniff' });
    });
}
