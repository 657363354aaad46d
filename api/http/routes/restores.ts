/**
 * @layer entry
 * Restores: a point back in place, as a new volume, or downloaded (behind the sign-in middleware):
 *
 *   POST /api/v1/restore-points/{id}/restore    202 with the restore (in-place | new-volume)
 *   GET  /api/v1/restore-points/{id}/download   the disk image, streamed (qcow2 | raw)
 *   POST /api/v1/restore-points/{id}/download-link, GET /api/downloads/{token}   the same by signed link (./downloads.ts)
 *   GET  /api/v1/restores, /api/v1/restores/{id}, /api/v1/restores/{id}/events (SSE)
 *   POST /api/v1/restores/{id}/cancel
 *
 * Who may: whoever may act on the point's VM (CloudStack decides, as for its backups); attaching
 * a new volume also needs the target VM. Every request that changes something is audited.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { visibleAs } from '../../auth/errors.ts';
import type { Principal } from '../../auth/principal.ts';
import { startDownload } from '../../restore/download.ts';
import { downloadRoutes } from './downloads.ts';
import { RestoreError } from '../../restore/errors.ts';
import { isRestoreFinished } from '../../restore/state.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { DownloadQuery, RestoreBody, RestoreListQuery, restoreDto } from '../restore-schemas.ts';
import { IdParam, viewOf } from '../schemas.ts';
import { zJson, zParam, zQuery } from '../validate.ts';

export function restoreRoutes(d: RouteDeps) {
  const { store, authorizer, audit } = d;
  const change = audit.change;
  const runner = () => {
    if (!d.restores || !d.gateway) throw new ApiError(503, 'unavailable', 'restores are not configured on this control plane');
    return { restores: d.restores, gateway: d.gateway };
  };

  /** the point, when the caller may act on its VM; 404 for a point that does not exist */
  async function visiblePoint(p: Principal, id: string) {
    const point = await store.points.get(id);
    if (!point || point.deletedAt) throw new RestoreError('notfound', `no restore point ${id}`);
    if (p.role !== 'root-admin') await visibleAs(authorizer.vm(p, point.platformVmId), `no restore point ${id}`);
    return point;
  }

  async function visibleRestore(p: Principal, id: string) {
    const r = await store.restores.get(id);
    if (!r) throw new RestoreError('notfound', `no restore ${id}`);
    if (p.role !== 'root-admin') await visibleAs(authorizer.vm(p, r.platformVmId), `no restore ${id}`);
    return r;
  }

  return new Hono<AppEnv>()
    .route('/', downloadRoutes(d))
    .post('/api/v1/restore-points/:id/restore', zParam(IdParam), zJson(RestoreBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      const r = await change(c, 'restore.start', { type: 'restore-point', id }, async () => {
        await visiblePoint(p, id);
        if (body.attachToVmId) await authorizer.vm(p, body.attachToVmId);
        return runner().restores.start({ restorePointId: id, ...body, requestedBy: p.username });
      }, (x) => ({ restoreId: x.id, mode: body.mode, disks: (x.target as { disks?: unknown }).disks, ...(body.attachToVmId ? { attachToVmId: body.attachToVmId } : {}) }));
      return c.json(restoreDto(r, viewOf(p)), 202);
    })
    .get('/api/v1/restore-points/:id/download', zParam(IdParam), zQuery(DownloadQuery), async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const p = c.get('principal');
      const dl = await change(c, 'restore.download', { type: 'restore-point', id }, async () => {
        await visiblePoint(p, id);
        const { restores, gateway } = runner();
        return startDownload({ store, gateway, runner: restores, clock: d.clock }, { restorePointId: id, disk: q.disk, format: q.format, requestedBy: p.username, signal: c.req.raw.signal });
      }, (x) => ({ restoreId: x.restore.id, disk: q.disk, format: q.format }));
      const headers: Record<string, string> = {
        'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${dl.filename}"`, 'x-sendense-restore-id': dl.restore.id,
        ...(dl.size !== undefined ? { 'content-length': String(dl.size) } : {}),
      };
      return c.body(dl.stream, 200, headers);
    })
    .get('/api/v1/restores', zQuery(RestoreListQuery), async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      if (q.vmId) await authorizer.vm(p, q.vmId);
      const filter = { scope: await authorizer.scope(p), vmId: q.vmId, status: q.status };
      const [items, total] = await Promise.all([store.restores.list({ ...filter, limit: q.limit, offset: q.offset }), store.restores.count(filter)]);
      return c.json({ items: items.map((r) => restoreDto(r, viewOf(p))), total, limit: q.limit, offset: q.offset }, 200);
    })
    .get('/api/v1/restores/:id', zParam(IdParam), async (c) => c.json(restoreDto(await visibleRestore(c.get('principal'), c.req.valid('param').id), viewOf(c.get('principal'))), 200))
    .get('/api/v1/restores/:id/events', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      await visibleRestore(c.get('principal'), id);
      const view = viewOf(c.get('principal'));
      const release = d.sseSlots.take(c.get('principal').userId);
      return streamSSE(c, async (stream) => {
        const queue: ReturnType<typeof restoreDto>[] = [];
        let wake = () => {};
        const off = runner().restores.subscribe(id, (r) => { queue.push(restoreDto(r, view)); wake(); });
        stream.onAbort(() => { off(); release(); wake(); });
        try {
          const first = await store.restores.get(id);
          if (!first) return;
          let seq = 0;
          let last = restoreDto(first, view);
          const send = (x: ReturnType<typeof restoreDto>) => stream.writeSSE({ event: 'restore', data: JSON.stringify(x), id: String(seq++) });
          await send(last);
          while (!isRestoreFinished(last.status) && !stream.aborted) {
            const next = queue.shift();
            if (next) { last = next; await send(last); continue; }
            const idle = await new Promise<boolean>((resolve) => {
              const t = setTimeout(() => resolve(true), d.sseKeepAliveMs);
              wake = () => { clearTimeout(t); resolve(false); };
            });
            if (idle && !stream.aborted) await stream.write(': keep-alive\n\n');
          }
          if (!stream.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: last.status }) });
        } finally {
          off();
          release();
        }
      });
    })
    .post('/api/v1/restores/:id/cancel', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const r = await change(c, 'restore.cancel', { type: 'restore', id }, async () => {
        await visibleRestore(p, id);
        return runner().restores.cancel(id);
      }, (x) => ({ status: x.status }));
      return c.json(restoreDto(r, viewOf(p)), 202);
    });
}
