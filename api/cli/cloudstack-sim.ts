/**
 * @layer entry
 * `sendense cloudstack-sim --port P [--state FILE]`: serves the CloudStack simulator on
 * 127.0.0.1 (or --host) and prints its endpoint and the root admin's keys. Runs until SIGINT or
 * SIGTERM. VMs mapped onto libvirt domains are started and stopped with virsh unless
 * `--hypervisor memory`; `--dump-state` prints a default state file to start from.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { serveSimulator } from '../cloudstack-sim/serve.ts';
import { defaultState, parseSimState } from '../cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../cloudstack-sim/virsh-hypervisor.ts';
import type { Command } from './main.ts';

export const SIM_USAGE = `Usage: sendense cloudstack-sim --port P [--state FILE] [options]

Options:
  --host H               listen address (default 127.0.0.1)
  --state FILE           JSON state (zones, hosts, pools, domains, accounts, users, VMs, volumes)
  --upload-dir DIR       keep uploaded volume images there (default: in memory)
  --async-delay MS       how long async jobs take (default 200)
  --hypervisor KIND      virsh | memory (default: virsh when a VM is mapped onto a libvirt domain)
  --dump-state           print a default state file and exit
`;

export const cloudstackSimCommand: Command = async (argv) => {
  let o;
  try {
    o = parseArgs({
      args: argv, strict: true,
      options: {
        port: { type: 'string' }, host: { type: 'string' }, state: { type: 'string' }, 'upload-dir': { type: 'string' },
        'async-delay': { type: 'string' }, hypervisor: { type: 'string' }, 'dump-state': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`sendense cloudstack-sim: ${(e as Error).message}\n${SIM_USAGE}`);
    return 2;
  }
  if (o.help) { process.stdout.write(SIM_USAGE); return 0; }
  if (o['dump-state']) { process.stdout.write(`${JSON.stringify(defaultState(), null, 2)}\n`); return 0; }
  const port = Number(o.port);
  if (o.port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`sendense cloudstack-sim: --port P is required (0 picks a free port)\n${SIM_USAGE}`);
    return 2;
  }
  let state;
  try {
    state = o.state ? parseSimState(JSON.parse(readFileSync(o.state, 'utf8'))) : defaultState();
  } catch (e) {
    process.stderr.write(`sendense cloudstack-sim: cannot load ${o.state}: ${(e as Error).message}\n`);
    return 2;
  }
  const kind = o.hypervisor ?? (state.vms.some((v) => v.libvirtDomain) ? 'virsh' : 'memory');
  if (kind !== 'virsh' && kind !== 'memory') { process.stderr.write(`sendense cloudstack-sim: --hypervisor must be virsh or memory\n`); return 2; }
  const sim = createSimulator({
    state, uploadDir: o['upload-dir'], asyncDelayMs: o['async-delay'] === undefined ? undefined : Number(o['async-delay']),
    hypervisor: kind === 'virsh' ? createVirshHypervisor() : undefined,
  });
  const served = await serveSimulator(sim, { port, hostname: o.host });
  const admin = sim.adminKeys;
  process.stdout.write(`CloudStack simulator (${state.settings.cloudstackVersion}, hypervisor: ${kind})\n`
    + `endpoint: ${served.endpoint}\napikey: ${admin.apiKey}\nsecretkey: ${admin.secretKey}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await served.close();
  await sim.idle();
  return 0;
};
