/**
 * @layer entry
 * `sendense demo`: Sendense on embedded defaults, all on this machine (issue 5 §6):
 * - makes this machine a KVM host lab (installs what is missing, starts libvirt by hand);
 * - the CloudStack simulator on a real port, with a zone, this machine as its KVM host and two
 *   VMs mapped onto real lab libvirt domains (transient TCG guests with real qcow2 disks);
 * - the agent daemon (`sendense-agent serve`, the real engine) reached over SSH (a loopback sshd
 *   as the KVM host's), and a repository host (another loopback sshd);
 * - the control plane (`sendense serve`) on SQLite under ./.sendense/, discovering the VMs from
 *   the simulator;
 * then runs a full and an incremental backup of both VMs through the control plane's API, prints
 * the URL and how to sign in, and serves until Ctrl-C (`--no-serve`: stop after the backups). It
 * cleans up everything it started.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensurePackages } from '../../test/lab/packages.ts';
import { startLibvirt, stopLibvirt } from '../../test/lab/daemons.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { startRepoHost, REPO_USER } from '../../test/lab/sshd.ts';
import { runId } from '../../test/lab/paths.ts';
import { cleanupRun, cleanupStale } from '../../test/lab/cleanup.ts';
import { daemonDir, spawnDaemon } from '../../test/lab/agent-daemon.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { serveSimulator } from '../cloudstack-sim/serve.ts';
import { addMappedVm, defaultState } from '../cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../cloudstack-sim/virsh-hypervisor.ts';
import { parseConfig } from '../config.ts';
import { startServer } from '../server.ts';
import { createLinkGateway } from '../agents/link-gateway.ts';
import { human } from '../../agent/cli/progress.ts';

const M = 1 << 20;
const say = (s: string) => process.stdout.write(`[demo] ${s}\n`);

export async function demoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write('sendense demo [--no-serve] [--port P]: the whole product on this machine (CloudStack simulator, agent, repository over SSH, control plane on SQLite)\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('sendense demo: run as root (it starts libvirt, VMs and sshd on this machine)\n');
    return 1;
  }
  const serveForever = !argv.includes('--no-serve');
  const portArg = argv.indexOf('--port');
  const port = portArg >= 0 ? Number(argv[portArg + 1]) : 8480;
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  ensurePackages();
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    // ---- this machine as a KVM host: its sshd, the agent daemon behind it, two CloudStack VMs
    const kvm = await startRepoHost({ label: 'demo-kvm' });
    cleanups.push(() => kvm.stop());
    const repo = await startRepoHost({ label: 'demo-repo' });
    cleanups.push(() => repo.stop());
    const agent = await spawnDaemon({ dir: daemonDir('demo-agent'), socketOwner: REPO_USER });
    cleanups.push(async () => { agent.kill('SIGTERM'); await agent.exited; });
    say(`agent daemon on ${agent.socketPath}, reached over SSH at ${kvm.host}:${kvm.port}; repository ${repo.url('backups')}`);
    const vms: LabVm[] = [];
    for (const [i, label] of ['web', 'db'].entries()) {
      const vm = await createLabVm({ label: `demo-${label}`, transient: true, disks: [{ size: 256 * M, randomPrefix: (48 + 16 * i) * M }, { size: 64 * M, randomPrefix: 8 * M }] });
      vms.push(vm);
      cleanups.push(() => vm.remove());
    }

    // ---- CloudStack (simulated) that knows those VMs as its own
    const state = defaultState();
    state.vms = [];
    state.volumes = [];
    const csVms = vms.map((vm, i) => addMappedVm(state, {
      name: ['web-1', 'db-1'][i], libvirtDomain: vm.name, domainXmlPath: path.join(vm.dir, 'domain.xml'), running: true,
      disks: vm.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })),
    }));
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor() });
    const served = await serveSimulator(sim, { port: 0 });
    cleanups.push(() => served.close());
    say(`CloudStack simulator: ${served.endpoint} (users admin, dadmin, alice; password 'password')`);

    // ---- the control plane on embedded defaults
    const dataDir = path.resolve('.sendense');
    mkdirSync(dataDir, { recursive: true });
    const config = parseConfig(JSON.stringify({
      listen: { host: '127.0.0.1', port },
      database: { path: path.join(dataDir, 'sendense.db') },
      cloudstack: { endpoint: served.endpoint, apiKey: sim.adminKeys.apiKey, secretKey: sim.adminKeys.secretKey },
      auth: { tokenSecret: randomBytes(32).toString('hex') },
      repositories: [{ name: 'demo', url: repo.url('backups'), default: true }],
      agents: { user: REPO_USER, socketPath: agent.socketPath, heartbeatSeconds: 10 },
    }), {}, 'demo');
    const gateway = createLinkGateway({
      access: () => ({
        host: kvm.host, port: kvm.port, username: kvm.user, identityFile: kvm.identityFile, knownHostsFile: kvm.knownHostsFile,
        socketPath: agent.socketPath, repoIdentity: repo.identityFile, repoKnownHosts: repo.knownHostsFile,
      }),
    });
    cleanups.push(() => gateway.close());
    const server = await startServer(config, { gateway: () => gateway, log: (m) => { if (process.env.SENDENSE_DEBUG) process.stderr.write(`${m}\n`); } });
    cleanups.push(() => server.close());
    say(`control plane: ${server.url} (SQLite ${config.database.path})`);

    // ---- a full and an incremental backup of each VM, through the control plane
    const { runner } = server.cp;
    for (const round of ['full', 'incremental'] as const) {
      if (round === 'incremental') {
        for (const vm of vms) { await vm.write('vda', 100 * M, 4 * M, 0x5e); await vm.zero('vdb', 0, M); }
        say('guest-like writes: 4 MiB on each vda, 1 MiB of zeros on each vdb');
      }
      const jobs = await Promise.all(csVms.map((v) => runner.enqueue({ vmId: v.vmId, requested: round === 'full' ? 'full' : 'auto', trigger: 'manual', requestedBy: 'demo' })));
      for (const [i, j] of jobs.entries()) {
        const done = await runner.settled(j.id);
        if (done.status !== 'succeeded') throw new Error(`backup of ${['web-1', 'db-1'][i]} ${done.status}: ${done.error ?? ''}`);
        say(`${['web-1', 'db-1'][i]}: ${done.type} backup ${done.status} — ${done.typeReason}; read ${human(done.bytesDone)}, wrote ${human(done.bytesWritten)}`);
      }
    }
    for (const [i, v] of csVms.entries()) say(`${['web-1', 'db-1'][i]}: ${await server.cp.store.points.countForVm(v.vmId)} restore points recorded`);
    writeFileSync(path.join(dataDir, 'demo.txt'), `${server.url}\n`);
    say(`sign in: POST ${server.url}/api/v1/auth/login {"username":"admin","password":"password"}; GET ${server.url}/api/v1/vms; OpenAPI ${server.url}/api/openapi.json`);
    if (serveForever) {
      say('serving until Ctrl-C');
      await new Promise<void>((resolve) => {
        // the first Ctrl-C starts the clean-up; later ones (npx forwards the signal too) must not cut it short
        const stop = () => { say('stopping: cleaning up'); resolve(); };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    }
    return 0;
  } catch (e) {
    process.stderr.write(`sendense demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
    say('cleaned up: VMs, agent, sshd, simulator and the daemons the demo started');
  }
}
