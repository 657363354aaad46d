/**
 * Issue 5 §7: 10 VMs backed up at once on one host, all correct, aggregate throughput versus the
 * same 10 one at a time, in the same run (`npm run bench -- fleet`).
 *
 * The whole control plane path (test/e2e/setup.ts): CloudStack simulator → control plane
 * (SQLite, per-host concurrency 10) → agent daemon over SSH (concurrency 10) → SSH repository
 * on loopback. Ten transient TCG VMs, one qcow2 disk each (SENDENSE_BENCH_FLEET_MIB of random
 * data, default 96, in a disk 32 MiB larger). Both rounds are full backups started with
 * POST /api/v1/vms/{id}/backups as root admin: "one at a time" waits for each job before the next
 * is posted; "at once" posts all ten and waits for them all. Aggregate MiB/s = the data the jobs
 * read ÷ wall time from the first POST to the last job settled. Every point of both rounds is
 * restored with the agent CLI from the repository and compared with the disk (qemu-img compare):
 * the row is met only when all 20 are identical.
 */
import { rmSync } from 'node:fs';
import { startE2e, type E2e } from '../e2e/setup.ts';
import type { Row } from './agent.ts';

const M = 1 << 20;
const VMS = 10;

interface Round { ms: number; bytes: number; jobs: { vm: string; jobId: string; start: number; end: number; status: string; error: string | null }[] }

async function backup(e2e: E2e, token: string, vmId: string): Promise<string> {
  const r = await e2e.api(`/api/v1/vms/${vmId}/backups`, { method: 'POST', token, body: JSON.stringify({ mode: 'full' }) });
  if (r.status !== 202) throw new Error(`[bench] backup of ${vmId}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

async function round(e2e: E2e, token: string, atOnce: boolean): Promise<Round> {
  const t0 = performance.now();
  const jobs: Round['jobs'] = [];
  const one = async (vm: E2e['vms'][number], jobId: string) => {
    const j = await e2e.server.cp.runner.settled(jobId);
    jobs.push({ vm: vm.name, jobId, start: j.startedAt?.getTime() ?? 0, end: j.finishedAt?.getTime() ?? 0, status: j.status, error: j.error });
    return j.bytesDone;
  };
  let bytes = 0;
  if (atOnce) {
    const ids = await Promise.all(e2e.vms.map((vm) => backup(e2e, token, vm.id)));
    bytes = (await Promise.all(e2e.vms.map((vm, i) => one(vm, ids[i])))).reduce((a, b) => a + b, 0);
  } else {
    for (const vm of e2e.vms) bytes += await one(vm, await backup(e2e, token, vm.id));
  }
  return { ms: performance.now() - t0, bytes, jobs };
}

/** The most jobs whose [started, finished] intervals overlap: proof of what ran at once. */
function peak(r: Round): number {
  const edges = r.jobs.flatMap((j) => [[j.start, 1], [j.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (n += d));
  return most;
}

/** Restores every job's point and compares it with the VM's disk: the names of those that differ or failed. */
async function check(e2e: E2e, r: Round, truths: Map<string, string>): Promise<string[]> {
  const bad: string[] = [];
  for (const j of r.jobs) {
    if (j.status !== 'succeeded') { bad.push(`${j.vm}: ${j.status} ${j.error ?? ''}`); continue; }
    const p = (await e2e.server.cp.store.points.listForVm(e2e.vm(j.vm).id)).find((x) => x.jobId === j.jobId);
    if (!p) { bad.push(`${j.vm}: no point recorded`); continue; }
    const point = { vmUuid: p.manifest.vm_uuid, pointId: p.pointId };
    // the check is not what is measured: a restore cut off by the loaded machine gets one more try
    const same = await e2e.sameAsTruth(point, 'vda', truths.get(j.vm)!)
      .catch(() => e2e.sameAsTruth(point, 'vda', truths.get(j.vm)!))
      .catch((e: Error) => e.message);
    if (same !== true) bad.push(`${j.vm}: ${same === false ? 'restored disk differs' : same}`);
  }
  return bad;
}

export async function benchFleet(log: (s: string) => void): Promise<Row[]> {
  const mib = Number(process.env.SENDENSE_BENCH_FLEET_MIB ?? 96);
  log(`fleet: ${VMS} VMs with ${mib} MiB of random data each, control plane + agent over SSH + SSH repository`);
  const e2e = await startE2e({
    label: 'fleet', perHostConcurrency: VMS, agentConcurrency: VMS,
    vms: Array.from({ length: VMS }, (_, i) => ({ name: `fleet-${i + 1}`, disks: [{ size: (mib + 32) * M, randomPrefix: mib * M }] })),
  });
  const truths = new Map<string, string>();
  try {
    const token = await e2e.login('admin');
    for (const vm of e2e.vms) truths.set(vm.name, await vm.lab.truth('vda'));
    log('fleet: one at a time');
    const seq = await round(e2e, token, false);
    log(`fleet: one at a time ${(seq.ms / 1000).toFixed(1)} s; at once`);
    const par = await round(e2e, token, true);
    log(`fleet: at once ${(par.ms / 1000).toFixed(1)} s; restoring all ${2 * VMS} points`);
    const bad = [...(await check(e2e, seq, truths)), ...(await check(e2e, par, truths))];
    if (bad.length) log(`fleet: NOT correct: ${bad.join('; ')}`);
    const rate = (r: Round) => r.bytes / M / (r.ms / 1000);
    const job = (r: Round) => {
      const ms = r.jobs.map((j) => j.end - j.start).sort((a, b) => a - b);
      return `jobs ${(ms[0] / 1000).toFixed(1)}–${(ms[ms.length - 1] / 1000).toFixed(1)} s, at most ${peak(r)} running at once`;
    };
    return [{
      what: `${VMS} VMs backed up at once on one host (control plane → agent over SSH → SSH repository; full, ${mib} MiB random data each; all ${2 * VMS} points restored and compared)`,
      value: `${rate(par).toFixed(0)} MiB/s aggregate, ${(par.ms / 1000).toFixed(1)} s wall, ${job(par)}; ${bad.length ? `${bad.length} NOT correct` : 'all correct'}`,
      reference: `one at a time: ${rate(seq).toFixed(0)} MiB/s, ${(seq.ms / 1000).toFixed(1)} s wall, ${job(seq)}`,
      ratio: (rate(par) / rate(seq)).toFixed(2),
      target: 'all correct (no throughput target set)',
      pass: bad.length === 0,
    }];
  } finally {
    for (const t of truths.values()) rmSync(t, { force: true });
    await e2e.close();
  }
}
