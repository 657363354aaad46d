/**
 * Issue 6, restore modes end to end on the lab: a 2-disk transient VM (qcow2 + raw) backed up
 * (full + incremental) through the real CLI into a repository on a real sshd over loopback; then
 * every restore mode is compared with `qemu-img compare` against the disk's content at the point:
 * - in place onto a stopped VM's volumes (CLI and daemon job): refused while the VM runs; an abort
 *   halfway and a failure after the volume was moved aside leave the volume exactly as it was
 *   (bytes and inode); a crashed restore's rollback file is put back by the next restore;
 * - upload to the CloudStack simulator's SSVM endpoint (getUploadParamsForVolume), qcow2 and raw;
 * - download stream through the daemon's POST /v1/exports (real engine), raw and qcow2;
 * - restore test in a verify job;
 * - a corrupted byte in a repository image makes restore, download, upload and the restore test
 *   fail loudly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { backupWithCli, cli, sameContent, sshArgs, agentWorkDir } from './fixture.ts';
import { run } from '../../agent/system/run.ts';
import { openRepoTarget } from '../../agent/engine/context.ts';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt.ts';
import { restoreInPlace, inPlaceNames } from '../../agent/restore/in-place.ts';
import { NodeLocalFiles } from '../../agent/restore/local-files.ts';
import { LocalRestoreFile } from '../../agent/restore/local-file.ts';
import { restoreDisk } from '../../agent/restore/restore.ts';
import { EXPORT_HEADERS } from '../../agent/restore/http-export.ts';
import { daemonEngine, hostEngine } from '../../agent/engine/host.ts';
import { createAgentApp } from '../../agent/daemon/app.ts';
import { MemoryJournal } from '../../agent/daemon/journal.ts';
import { MemoryHypervisor } from '../../agent/hypervisor/memory.ts';
import type { RestoreBody } from '../../agent/engine/requests.ts';

/** this test process's engine, as a CLI command or the daemon builds one */
const engine = hostEngine();
import { createSimulator, type Simulator } from '../../api/cloudstack-sim/app.ts';
import { serveSimulator, type ServedSimulator } from '../../api/cloudstack-sim/serve.ts';
import { encodeParams, signParams } from '../../api/cloudstack/signer.ts';
import { FAKE_CAPS } from '../lab/agent-daemon.ts';

const M = 1 << 20;
let src: LabVm;
let dst: LabVm;
let host: RepoHost;
let sim: Simulator;
let served: ServedSimulator;
const out = labDir('runs', runId(), 'restore-modes');
const uploadDir = path.join(out, 'uploads');
const points: { id: string; vda: string; vdb: string }[] = [];
const files = new NodeLocalFiles();
const noop = { onProgress: () => {}, log: () => {} };

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const identity = (f: string) => { const s = statSync(f); return { ino: s.ino, dev: s.dev, sha: sha(f), uid: s.uid, gid: s.gid, mode: s.mode }; };
const repo = (sub = 'repo') => ({ repo: host.url(sub), identity: host.identityFile, knownHosts: host.knownHostsFile });
const dirNames = (f: string) => readdirSync(path.dirname(f)).filter((n) => n.includes('sendense')).sort();

async function backup(): Promise<void> {
  const r = await backupWithCli({ vm: src, host, truths: ['vda', 'vdb'], stderr: 'any' });
  points.push({ id: r.pointId, vda: r.truths.vda, vdb: r.truths.vdb });
}

async function uploadParams(format: 'QCOW2' | 'RAW'): Promise<{ id: string; postURL: string; metadata: string; expires: string; signature: string }> {
  const zone = sim.state.zones[0].id;
  const q = encodeParams(signParams({ response: 'json', command: 'getUploadParamsForVolume', name: `restored-${format}`, zoneid: zone, format }, { ...sim.adminKeys, version: 3, now: Date.now() }));
  const res = await fetch(`${served.endpoint}?${q}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { postuploadvolumeresponse: { getuploadparams: never } }).postuploadvolumeresponse.getuploadparams;
}

beforeAll(async () => {
  mkdirSync(out, { recursive: true });
  host = await startRepoHost({ label: 'restore' });
  src = await createLabVm({
    label: 'rsrc', transient: true,
    disks: [{ size: 32 * M, randomPrefix: 10 * M }, { size: 16 * M + 4096, format: 'raw', init: [{ offset: 2 * M, length: 3 * M, pattern: 0x22 }] }],
  });
  // the VM whose volumes are restored in place: persistent, stopped (as CloudStack's stopped VM)
  dst = await createLabVm({
    label: 'rdst', start: false,
    disks: [{ size: 32 * M, init: [{ offset: 0, length: 4 * M, pattern: 0x77 }] }, { size: 16 * M + 4096, format: 'raw', init: [{ offset: 0, length: M, pattern: 0x78 }] }],
  });
  sim = createSimulator({ uploadDir, asyncDelayMs: 10 });
  served = await serveSimulator(sim);
  await backup();
  await src.write('vda', 12 * M + 512, 3 * M, 0xa1);
  await src.zero('vda', M, 64 * 1024);
  await src.write('vdb', 9 * M, M + 100, 0xb1);
  await backup();
  expect(await sameContent(points[0].vda, 'raw', points[1].vda)).toBe(false);
}, 300_000);

afterAll(async () => {
  await served?.close();
  await src?.remove();
  await dst?.remove();
  await host?.stop();
});

describe('restore in place', () => {
  it('is refused while the VM runs, and the volume is untouched', async () => {
    const vol = dst.disk('vda').path;
    await dst.start();
    try {
      const before = await run('qemu-img', ['info', '-U', '--output=json', vol]);
      const target = await openRepoTarget(host.url('repo'), { identity: host.identityFile, knownHosts: host.knownHostsFile });
      try {
        await expect(restoreInPlace({ target, hypervisor: new LibvirtHypervisor(), files }, { vm: src.uuid, disk: 'vda', path: vol, job: 'refused' }))
          .rejects.toThrow(new RegExp(`is disk vda of domain ${dst.name}, which is running: stop the VM`));
      } finally {
        await target.close();
      }
      expect((await run('qemu-img', ['info', '-U', '--output=json', vol])).stdout).toBe(before.stdout);
      expect(dirNames(vol)).toEqual([]);
    } finally {
      await dst.destroy();
    }
  });

  it('interrupted halfway or failing after the move aside: the volume is exactly as it was', async () => {
    const vol = dst.disk('vda').path;
    const before = identity(vol);
    const target = await openRepoTarget(host.url('repo'), { identity: host.identityFile, knownHosts: host.knownHostsFile });
    try {
      const deps = { target, hypervisor: new LibvirtHypervisor(), files };
      const ac = new AbortController();
      let seen = 0;
      await expect(restoreInPlace(deps, {
        vm: src.uuid, disk: 'vda', path: vol, job: 'abort1', inFlight: 1, signal: ac.signal,
        onProgress: (done, total) => { seen = Math.max(seen, done / total); if (done >= total / 2) ac.abort(new Error('interrupted by the test')); },
      })).rejects.toThrow(/is as it was: .*interrupted by the test/);
      expect(seen).toBeGreaterThanOrEqual(0.5);
      expect(seen).toBeLessThan(1);
      expect(identity(vol)).toEqual(before);
      expect(dirNames(vol)).toEqual([]);

      await expect(restoreInPlace(deps, {
        vm: src.uuid, disk: 'vda', path: vol, job: 'fail2',
        onStep: (s) => { if (s === 'aside') throw new Error('disk full (simulated)'); },
      })).rejects.toThrow(/is as it was: disk full/);
      expect(identity(vol)).toEqual(before);
      expect(dirNames(vol)).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('restores qcow2 in place (CLI): same format, standalone, owner and mode kept, equal to the point', async () => {
    const vol = dst.disk('vda').path;
    await run('chown', ['65534:65534', vol]);
    await run('chmod', ['0640', vol]);
    const r = await cli(['restore', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', src.uuid, '--disk', 'vda', '--point', points[0].id, '--in-place', vol, '--json']);
    expect(r.stderr).toBe('');
    expect(r.json).toMatchObject({ ok: true, destination: 'volume', to: vol, format: 'qcow2', point_id: points[0].id, verified: true });
    expect(await sameContent(vol, 'qcow2', points[0].vda)).toBe(true);
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', vol])).stdout);
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBeUndefined();
    const st = statSync(vol);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([65534, 65534, 0o640]);
    expect(r.json.bytes_written).toBe(st.size);
    expect(dirNames(vol)).toEqual([]);
  });

  it('a rollback file left by a crash is put back by the next restore, which then finishes (daemon job, raw volume)', async () => {
    const vol = dst.disk('vdb').path;
    const original = identity(vol);
    // a restore that died after moving the volume aside, with its unfinished image beside it
    const { rollback, temp } = inPlaceNames(vol, 'crashed');
    await run('mv', [vol, rollback]);
    writeFileSync(temp, 'half an image');
    const logs: string[] = [];
    const req = { ...repo(), vmId: src.uuid, disk: 'vdb', point: points[1].id, inPlace: { path: vol }, format: 'qcow2', overwrite: false } as RestoreBody;
    const r = await engine.restore(req, { signal: new AbortController().signal, onProgress: () => {}, log: (m) => logs.push(m) });
    expect(logs.join('\n')).toMatch(/interrupted after moving the volume aside: put the previous content back/);
    expect(logs.join('\n')).toMatch(/removed .*the unfinished image/);
    expect(r).toMatchObject({ destination: 'volume', to: vol, format: 'raw', pointId: points[1].id });
    expect(await sameContent(vol, 'raw', points[1].vdb)).toBe(true);
    expect(statSync(vol).ino).not.toBe(original.ino);
    expect(dirNames(vol)).toEqual([]);
  });
});

describe('restore as an upload to CloudStack (simulator SSVM endpoint)', () => {
  it('qcow2 through the CLI, raw through the daemon job: the stored images equal the points', async () => {
    const q = await uploadParams('QCOW2');
    const r = await cli(['restore', '--repo', host.url('repo'), ...sshArgs(host), '--vm-id', src.uuid, '--disk', 'vda', '--point', points[1].id,
      '--upload-url', q.postURL, '--header', `X-signature:${q.signature}`, '--header', `X-metadata:${q.metadata}`, '--header', `X-expires:${q.expires}`, '--json']);
    expect(r.stderr).toBe('');
    expect(r.json).toMatchObject({ ok: true, destination: 'upload', to: q.postURL, format: 'qcow2' });
    const stored = path.join(uploadDir, `${q.id}.qcow2`);
    expect(statSync(stored).size).toBe(r.json.bytes_written);
    expect(sim.state.volumes.find((v) => v.id === q.id)).toMatchObject({ state: 'Uploaded', size: 32 * M });
    expect(await sameContent(stored, 'qcow2', points[1].vda)).toBe(true);

    const p = await uploadParams('RAW');
    const job = await engine.restore({ ...repo(), vmId: src.uuid, disk: 'vdb', point: points[0].id, format: 'qcow2', overwrite: false, upload: { url: p.postURL, headers: { 'X-signature': p.signature, 'X-metadata': p.metadata, 'X-expires': p.expires }, format: 'raw' } } as RestoreBody, { signal: new AbortController().signal, ...noop });
    expect(job).toMatchObject({ destination: 'upload', format: 'raw', bytesWritten: 16 * M + 4096 });
    expect(await sameContent(path.join(uploadDir, `${p.id}.raw`), 'raw', points[0].vdb)).toBe(true);

    // the URL is one-time: a second POST is refused, and the error names the HTTP status and message
    await expect(engine.restore({ ...repo(), vmId: src.uuid, disk: 'vdb', format: 'qcow2', overwrite: false, upload: { url: p.postURL, headers: { 'X-signature': p.signature, 'X-metadata': p.metadata, 'X-expires': p.expires }, format: 'raw' } } as RestoreBody, { signal: new AbortController().signal, ...noop }))
      .rejects.toThrow(/HTTP 400: The one time post url is already used/);
  });
});

describe('download stream (daemon POST /v1/exports, real engine)', () => {
  it('raw and qcow2 bodies equal the points, with their identity in headers', async () => {
    const agent = createAgentApp({ engine: daemonEngine(engine), journal: new MemoryJournal(), hypervisor: new MemoryHypervisor(), version: 't', hostname: 't', probe: async () => FAKE_CAPS });
    for (const [disk, format, pt] of [['vda', 'raw', 0], ['vdb', 'qcow2', 1], ['vda', 'qcow2', 1]] as const) {
      const res = await agent.app.request('/v1/exports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...repo(), vmId: src.uuid, disk, point: points[pt].id, format }) });
      expect(res.status).toBe(200);
      expect(res.headers.get(EXPORT_HEADERS.point)).toBe(points[pt].id);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(Number(res.headers.get('content-length')));
      const f = path.join(out, `download-${disk}-${pt}.${format}`);
      writeFileSync(f, body);
      expect(await sameContent(f, format, points[pt][disk]), `${disk} ${format} ${pt}`).toBe(true);
    }
    // the qcow2 scratch files are gone
    expect(readdirSync(agentWorkDir()).filter((n) => n.startsWith('image-'))).toEqual([]);
  });
});

describe('restore test (verify job with restoreTest)', () => {
  it('restores every disk of every point to a scratch file and compares it with the digests', async () => {
    const r = await engine.verify({ ...repo(), vmId: src.uuid, restoreTest: true }, { signal: new AbortController().signal, ...noop });
    expect(r.ok).toBe(true);
    const disks = r.points.flatMap((p) => p.disks);
    expect(disks).toHaveLength(4);
    for (const d of disks) expect(d.restoreTest).toMatchObject({ ok: true, bytesChecked: d.target === 'vda' ? 32 * M : 16 * M + 4096 });
    expect(readdirSync(agentWorkDir()).filter((n) => n.startsWith('restore-test-'))).toEqual([]);
  });
});

describe('a corrupted byte in the repository', () => {
  it('makes restore, download, upload and the restore test fail loudly', async () => {
    // a copy of the repository with one byte of the full image's data flipped (guest offset 3 MiB,
    // which the incremental does not overwrite)
    const good = path.join(host.root, 'repo');
    const bad = path.join(host.root, 'bad');
    // copied by the repository host's own user: its files are 0600, a copy made by root would be root's
    await host.ssh(`cp -a '${good}' '${bad}'`);
    const vmDir = readdirSync(bad).includes('vms') ? path.join(bad, 'vms', src.uuid) : path.join(bad, src.uuid);
    const full = readdirSync(path.join(vmDir, 'disk-0')).find((n) => n.startsWith('full-') && n.endsWith('.qcow2'))!;
    const image = path.join(vmDir, 'disk-0', full);
    const map = JSON.parse((await run('qemu-img', ['map', '--output=json', '-f', 'qcow2', image])).stdout) as { start: number; length: number; data: boolean; offset?: number }[];
    const ext = map.find((e) => e.data && e.offset !== undefined && e.start <= 3 * M && e.start + e.length > 3 * M)!;
    const at = ext.offset! + (3 * M - ext.start) + 1234;
    const fd = openSync(image, 'r+');
    const b = Buffer.alloc(1);
    (await import('node:fs')).readSync(fd, b, 0, 1, at);
    writeSync(fd, Buffer.from([b[0] ^ 0xff]), 0, 1, at);
    closeSync(fd);

    const target = await openRepoTarget(host.url('bad'), { identity: host.identityFile, knownHosts: host.knownHostsFile });
    try {
      const to = path.join(out, 'bad.raw');
      await expect(restoreDisk(target, await LocalRestoreFile.create(to), { vm: src.uuid, disk: 'vda', point: points[1].id, format: 'raw' }))
        .rejects.toThrow(/block 3 \(offset 3145728\) .* does not match its digest/);
      expect(existsSync(to)).toBe(false);
      expect(existsSync(`${to}.sendense-partial`)).toBe(false);
    } finally {
      await target.close();
    }

    // in place: refused at the damaged block, the volume unchanged
    const vol = dst.disk('vda').path;
    const before = identity(vol);
    await expect(engine.restore({ ...repo('bad'), vmId: src.uuid, disk: 'vda', format: 'qcow2', overwrite: false, inPlace: { path: vol } } as RestoreBody, { signal: new AbortController().signal, ...noop }))
      .rejects.toThrow(/is as it was: .*does not match its digest/);
    expect(identity(vol)).toEqual(before);

    // download: raw is cut short (the client's read fails), qcow2 is refused before any byte
    const agent = createAgentApp({ engine: daemonEngine(engine), journal: new MemoryJournal(), hypervisor: new MemoryHypervisor(), version: 't', hostname: 't', probe: async () => FAKE_CAPS });
    const dl = (format: string) => agent.app.request('/v1/exports', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...repo('bad'), vmId: src.uuid, disk: 'vda', format }) });
    const raw = await dl('raw');
    expect(raw.status).toBe(200);
    let got = 0;
    await expect((async () => { for await (const c of raw.body as unknown as AsyncIterable<Uint8Array>) got += c.byteLength; })()).rejects.toThrow(/does not match its digest/);
    expect(got).toBeLessThan(32 * M);
    const q = await dl('qcow2');
    expect(q.status).toBe(422);
    expect(await q.text()).toMatch(/does not match its digest/);

    // upload: the POST is cut short, the simulator stores nothing
    const p = await uploadParams('RAW');
    await expect(engine.restore({ ...repo('bad'), vmId: src.uuid, disk: 'vda', format: 'qcow2', overwrite: false, upload: { url: p.postURL, headers: { 'X-signature': p.signature, 'X-metadata': p.metadata, 'X-expires': p.expires }, format: 'raw' } } as RestoreBody, { signal: new AbortController().signal, ...noop }))
      .rejects.toThrow(/does not match its digest/);
    expect(existsSync(path.join(uploadDir, `${p.id}.raw`))).toBe(false);

    // restore test: both points of vda fail (the incremental's chain includes the damaged full), vdb passes
    const v = await engine.verify({ ...repo('bad'), vmId: src.uuid, restoreTest: true }, { signal: new AbortController().signal, ...noop });
    expect(v.ok).toBe(false);
    for (const pt of v.points) {
      const vda = pt.disks.find((d) => d.target === 'vda')!;
      expect(vda.restoreTest?.ok).toBe(false);
      expect(vda.restoreTest?.problems.join(' ')).toMatch(/\[restore-test\].*does not match its digest/);
      expect(pt.disks.find((d) => d.target === 'vdb')!.restoreTest?.ok).toBe(true);
    }
  });
});
