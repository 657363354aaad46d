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
 * the plug-in's URL (/plugin/, built first if it is not) and a CloudStack-like page framing it on
 * its own origin (port + 1, which `plugin.uiOrigins` names), and the sign-ins it offers — users of
 * several accounts and domains, one with two-factor sign-in (api/cloudstack-sim/demo-world.ts) —, and serves until Ctrl-C (`--no-serve`: stop after the backups). It
 * cleans up everything it started — also on SIGTERM, and also when the signal comes mid-setup.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ensurePackages, HOST_PACKAGES } from '../../test/lab/packages.ts';
import { startLibvirt, stopLibvirt } from '../../test/lab/daemons.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { startRepoHost, REPO_USER } from '../../test/lab/sshd.ts';
import { runId } from '../../test/lab/paths.ts';
import { cleanupRun, cleanupStale } from '../../test/lab/cleanup.ts';
import { daemonDir, spawnDaemon } from '../../test/lab/agent-daemon.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { serveSimulator } from '../cloudstack-sim/serve.ts';
import { demoSignIns, demoWorld, DEMO_TOTP_KEY, setPluginTheme } from '../cloudstack-sim/demo-world.ts';
import { defaultPluginDir } from '../http/plugin-static.ts';
import { serveHostPage } from './demo-host.ts';
import { totpCode } from '../cloudstack-sim/totp.ts';
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
  // SIGTERM is Ctrl-C from the very first moment (issue 12 item 7): the first signal stops the
  // work and everything started so far is removed; later ones (npx forwards the signal too) wait
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) return;
    say(`${sig}: stopping, cleaning up`);
    stop.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stopped = new Promise<never>((_, reject) => stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true }));
  stopped.catch(() => {});
  ensurePackages(HOST_PACKAGES);
  const daemons = await startLibvirt();
  const cleanups: (() => Promise<unknown>)[] = [];
  const progress = { serving: false };
  const work = cleanupStale(runId()).then(() => demoWork(cleanups, stop.signal, serveForever, port, progress));
  try {
    return await Promise.race([work, stopped]);
  } catch (e) {
    // stopped while serving is the normal end (Ctrl-C); stopped earlier, the demo did not finish
    if (stop.signal.aborted && progress.serving) return 0;
    process.stderr.write(`sendense demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    let done = 0;
    const runCleanups = async () => {
      const todo = cleanups.slice(done).reverse();
      done = cleanups.length;
      for (const c of todo) await c().catch(() => {});
    };
    await runCleanups();
    // a step that was still running may yet start something (a VM, a process): let it end, then remove that too
    await Promise.race([work.catch(() => {}), new Promise((r) => setTimeout(r, 120_000).unref())]);
    await runCleanups();
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    say('cleaned up: VMs, agent, sshd, simulator and the daemons the demo started');
  }
}

/** The demo's work; everything it starts is pushed onto `cleanups` as soon as it exists. */
async function demoWork(cleanups: (() => Promise<unknown>)[], signal: AbortSignal, serveForever: boolean, port: number, progress: { serving: boolean }): Promise<number> {
  const step = () => signal.throwIfAborted();
  {
    // ---- this machine as a KVM host: its sshd, the agent daemon behind it, two CloudStack VMs
    const kvm = await startRepoHost({ label: 'demo-kvm' });
    cleanups.push(() => kvm.stop());
    step();
    const repo = await startRepoHost({ label: 'demo-repo' });
    cleanups.push(() => repo.stop());
    step();
    const agent = await spawnDaemon({ dir: daemonDir('demo-agent'), socketOwner: REPO_USER });
    cleanups.push(async () => { agent.kill('SIGTERM'); await agent.exited; });
    say(`agent daemon on ${agent.socketPath}, reached over SSH at ${kvm.host}:${kvm.port}; repository ${repo.url('backups')}`);
    const vms: LabVm[] = [];
    for (const [i, label] of ['web', 'db'].entries()) {
      const vm = await createLabVm({ label: `demo-${label}`, transient: true, disks: [{ size: 256 * M, randomPrefix: (48 + 16 * i) * M }, { size: 64 * M, randomPrefix: 8 * M }] });
      vms.push(vm);
      cleanups.push(() => vm.remove());
      step();
    }

    // ---- CloudStack (simulated) that knows those VMs as its own
    // accounts in several domains (api/cloudstack-sim/demo-world.ts): web-1 is alice's, db-1 bob's
    const spec = (vm: LabVm) => ({ libvirtDomain: vm.name, domainXmlPath: path.join(vm.dir, 'domain.xml'), disks: vm.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })) });
    const world = demoWorld([spec(vms[0]), spec(vms[1])]);
    const { state } = world;
    const csVms = world.vms;
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor() });
    const served = await serveSimulator(sim, { port: 0 });
    cleanups.push(() => served.close());
    step();
    say(`CloudStack simulator: ${served.endpoint} (users admin, dadmin, alice, bob, carol; password 'password')`);

    // ---- a CloudStack-like page framing the plug-in, on its own origin (the one plugin.uiOrigins names)
    let pluginUrl = '';
    const hostPage = await serveHostPage(() => pluginUrl, port === 0 ? 0 : port + 1);
    cleanups.push(() => hostPage.close());

    // ---- the control plane on embedded defaults
    const dataDir = path.resolve('.sendense');
    mkdirSync(dataDir, { recursive: true });
    const config = parseConfig(JSON.stringify({
      listen: { host: '127.0.0.1', port },
      database: { path: path.join(dataDir, 'sendense.db') },
      // the simulator on loopback speaks plain HTTP
      cloudstack: { endpoint: served.endpoint, apiKey: sim.adminKeys.apiKey, secretKey: sim.adminKeys.secretKey, insecure: true },
      auth: { tokenSecret: randomBytes(32).toString('hex') },
      repositories: [{ name: 'demo', url: repo.url('backups'), default: true }],
      agents: { user: REPO_USER, socketPath: agent.socketPath, heartbeatSeconds: 10 },
      plugin: { uiOrigins: [hostPage.origin] },
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
    step();
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
    setPluginTheme(state, `${server.url}/plugin/`);
    if (!existsSync(path.join(defaultPluginDir(), 'index.html'))) {
      say('building the plug-in (npm run build:plugin) …');
      const root = path.resolve(import.meta.dirname, '../..');
      const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'plugin-ui/vite.config.ts'], { cwd: root, encoding: 'utf8' });
      if (r.status !== 0) say(`the plug-in did not build (${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}): /plugin/ says how to build it`);
    }
    pluginUrl = `${server.url}/plugin/`;
    say(`plug-in: open ${hostPage.url} (a CloudStack-like page with the plug-in in its menu; plugin.uiOrigins ${hostPage.origin}), or ${pluginUrl} alone — sign in with a CloudStack user (password 'password'):`);
    for (const u of demoSignIns()) say(`  ${u.username.padEnd(7)} domain ${u.domain.padEnd(11)} ${u.role}: sees ${u.sees}`);
    say(`  carol's authenticator: ${demoSignIns().find((u) => u.username === 'carol')!.note} (code now: ${totpCode(DEMO_TOTP_KEY, Date.now())})`);
    say(`API: POST ${server.url}/api/v1/auth/login {"username":"admin","password":"password"}; GET ${server.url}/api/v1/vms; OpenAPI ${server.url}/api/openapi.json`);
    if (serveForever) {
      say('serving until Ctrl-C (or SIGTERM)');
      progress.serving = true;
      if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    return 0;
  }
}
