/**
 * POST /v1/exports over the daemon's real unix socket (fake engine): the body streams with its
 * Content-Length and identity headers; an error in the middle of the stream reaches the client as
 * a truncated body (the read fails), never as a short "complete" file; a missing point is a 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeEngine } from '../../agent/daemon/fake-engine.ts';
import { EXPORT_HEADERS } from '../../agent/restore/http-export.ts';
import { openSocketFetch, startFakeDaemon, type FakeDaemon } from '../lab/agent-daemon.ts';

const M = 1 << 20;
let d: FakeDaemon;
let fetchSock: ReturnType<typeof openSocketFetch>['fetch'];

beforeAll(async () => {
  d = await startFakeDaemon({ engine: new FakeEngine({ bytes: 8 * M + 4096, steps: 1, stepMs: 1 }) });
  fetchSock = openSocketFetch(d.socketPath).fetch;
  await d.engine.backup({ domain: 'vm1', vmId: 'vm-a', mode: 'auto', quiesce: false, repo: '/srv/r' }, { signal: new AbortController().signal, onProgress: () => {}, log: () => {} });
});
afterAll(async () => { await d?.stop(); });

const post = (body: unknown) => fetchSock('http://agent/v1/exports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('daemon download stream', () => {
  it('streams the disk with Content-Length and the point in headers', async () => {
    const res = await post({ repo: '/srv/r', vmId: 'vm-a', disk: 'vda', format: 'raw' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-length')).toBe(String(8 * M + 4096));
    expect(res.headers.get(EXPORT_HEADERS.point)).toBe(d.engine.points.get('vm-a')![0]);
    expect(res.headers.get(EXPORT_HEADERS.format)).toBe('raw');
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(8 * M + 4096);
    for (let i = 0; i <= 8; i++) expect(body[i * M], `block ${i}`).toBe(i & 0xff);
  });

  it('a failure in the middle truncates the body: the client read fails', async () => {
    d.engine.failures.set('vm-a', '[verify] block 4 does not match its digest');
    try {
      const res = await post({ repo: '/srv/r', vmId: 'vm-a', disk: 'vda', format: 'raw' });
      expect(res.status).toBe(200);
      let got = 0;
      const read = (async () => {
        for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) got += c.byteLength;
      })();
      await expect(read).rejects.toThrow();
      expect(got).toBeLessThan(8 * M + 4096);
      expect(got).toBeGreaterThan(0);
    } finally {
      d.engine.failures.delete('vm-a');
    }
  });

  it('a missing point is 404 before any byte; a bad body is 400', async () => {
    const res = await post({ repo: '/srv/r', vmId: 'vm-a', disk: 'vda', point: '20200101-000000' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/no restore point 20200101-000000/);
    const bad = await post({ repo: '/srv/r', vmId: 'vm-a', disk: 'vda', format: 'vmdk' });
    expect(bad.status).toBe(400);
  });
});
