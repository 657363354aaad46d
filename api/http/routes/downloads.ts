/**
 * @layer entry
 * Downloads by signed link (api/restore/download-link.ts):
 *
 *   POST /api/v1/restore-points/{id}/download-link   201 {path, expiresAt}: whoever may act on the point's VM
 *   GET  /api/downloads/{token}                      the disk, streamed (outside /api/v1: the link is the credential)
 *
 * The browser follows the link itself and writes the stream to a file as it comes, so a disk of
 * any size never sits in the page's memory, and the Sendense token never appears in a URL.
 * Issuing and using a link are both audited; the download is recorded as a `download` restore.
 */
import { Hono } from 'hono';
import { visibleAs } from '../../auth/errors.ts';
import { DownloadLinkError, DownloadLinks } from '../../restore/download-link.ts';
import { startDownload } from '../../restore/download.ts';
import { RestoreError } from '../../restore/errors.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { DownloadQuery, DownloadTokenParam } from '../restore-schemas.ts';
import { IdParam } from '../schemas.ts';
import { zJson, zParam } from '../validate.ts';

const STATUS = { link_invalid: 403, link_expired: 410, link_used: 410 } as const;

export function downloadRoutes(d: RouteDeps, links = new DownloadLinks({ clock: () => d.clock().getTime() })) {
  const { store, authorizer, audit } = d;
  return new Hono<AppEnv>()
    .post('/api/v1/restore-points/:id/download-link', zParam(IdParam), zJson(DownloadQuery), async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('json');
      const p = c.get('principal');
      const link = await audit.change(c, 'restore.download-link', { type: 'restore-point', id }, async () => {
        const point = await store.points.get(id);
        if (!point || point.deletedAt) throw new RestoreError('notfound', `no restore point ${id}`);
        if (p.role !== 'root-admin') await visibleAs(authorizer.vm(p, point.platformVmId), `no restore point ${id}`);
        return links.issue({ pointId: id, disk: q.disk, format: q.format, user: { userId: p.userId, username: p.username, account: p.account, domainId: p.domainId, via: p.via } });
      }, (l) => ({ disk: q.disk, format: q.format, expiresAt: l.expiresAt.toISOString() }));
      return c.json({ path: `api/downloads/${link.token}`, expiresAt: link.expiresAt.toISOString() }, 201, { 'cache-control': 'no-store' });
    })
    .get('/api/downloads/:token', zParam(DownloadTokenParam), async (c) => {
      let g;
      try {
        g = links.redeem(c.req.valid('param').token);
      } catch (e) {
        if (e instanceof DownloadLinkError) throw new ApiError(STATUS[e.code], e.code, e.message.replace(/^\[restore\] /, ''));
        throw e;
      }
      if (!d.restores || !d.gateway) throw new ApiError(503, 'unavailable', 'restores are not configured on this control plane');
      const actor = g.user;
      let dl;
      try {
        dl = await startDownload({ store, gateway: d.gateway, runner: d.restores, clock: d.clock },
          { restorePointId: g.pointId, disk: g.disk, format: g.format, requestedBy: actor.username, signal: c.req.raw.signal });
      } catch (e) {
        await audit.record(c, 'restore.download', { type: 'restore-point', id: g.pointId }, 'error', { reason: (e as Error).message, disk: g.disk, format: g.format }, actor);
        throw e;
      }
      await audit.record(c, 'restore.download', { type: 'restore-point', id: g.pointId }, 'ok', { restoreId: dl.restore.id, disk: g.disk, format: g.format, via: 'link' }, actor);
      return c.body(dl.stream, 200, {
        'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${dl.filename}"`, 'x-sendense-restore-id': dl.restore.id,
        'cache-control': 'no-store', 'referrer-policy': 'no-referrer',
        ...(dl.size !== undefined ? { 'content-length': String(dl.size) } : {}),
      });
    });
}
