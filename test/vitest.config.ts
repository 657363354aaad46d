/**
 * The test projects. `npm test` runs unit and lab (not known-failing, below); `npm run test:unit` (`--project unit`) only the first.
 *
 *   unit  pure logic and use cases on in-memory adapters: no root, no lab, no global setup, seconds.
 *   lab   everything else: the lab's global setup (test/lab/global-setup.ts) first makes this machine a
 *         KVM host lab (packages, libvirt daemons, leftovers of crashed runs), then the tests run
 *         real qemu, libvirt, sshd, PostgreSQL, Chromium. A missing dependency fails, never skips.
 *
 * How a test file is put in `unit`: add its path (or a glob) to UNIT below. It qualifies when it
 * needs no root, starts no process (virsh, qemu-*, sshd, nbdkit, a browser, a database server),
 * imports nothing from test/lab/, and finishes in seconds. Every other file matched by ALL runs
 * in `lab`, so a file nobody listed still runs — with the lab set up.
 */
import { defineConfig } from 'vitest/config';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

/** every test file of the repository */
const ALL = ['agent/**/*.test.ts', 'api/**/*.test.ts', 'db/**/*.test.ts', 'test/**/*.test.ts', 'packaging/**/*.test.ts', 'plugin-ui/**/*.test.ts'];

/** the files of the unit project (see above for the rules) */
const UNIT = [
  'agent/backup/backup.test.ts',
  'agent/backup/copy-disk.test.ts',
  'agent/backup/copy-plan.test.ts',
  'agent/backup/decide.test.ts',
  'agent/backup/plan.test.ts',
  'agent/blocksource/memory.test.ts',
  'agent/cli/serve-config.test.ts',
  'agent/daemon/health-workdir.test.ts',
  'agent/daemon/journal.test.ts',
  'agent/daemon/policy.test.ts',
  'agent/daemon/queue-priority.test.ts',
  'agent/hypervisor/memory-disk.test.ts',
  'agent/hypervisor/memory.test.ts',
  'agent/hypervisor/xml.test.ts',
  'agent/nbd/byte-queue.test.ts',
  'agent/nbd/uri.test.ts',
  'agent/repository/manifest.test.ts',
  'agent/repository/point-writer.test.ts',
  'agent/restore/in-place.test.ts',
  'agent/restore/layer-stream.test.ts',
  'agent/restore/local-files.test.ts',
  'agent/restore/scratch.test.ts',
  'agent/restore/scratch-space.test.ts',
  'agent/restore/sums-check.test.ts',
  'agent/retention/plan.test.ts',
  'agent/target/memory.test.ts',
  'agent/target/ssh-read-handles.test.ts',
  'agent/target/url.test.ts',
  'api/agents/health/assess.test.ts',
  'api/agents/follow.test.ts',
  'api/agents/memory.test.ts',
  'api/auth/authz.test.ts',
  'api/policy/visibility.test.ts',
  'api/auth/signed-request.test.ts',
  'api/auth/token.test.ts',
  'api/auth/vm-cache.test.ts',
  'api/cloudstack-sim/sim.test.ts',
  'api/cloudstack-sim/ui-session.test.ts',
  'api/cloudstack/disk-location.test.ts',
  'api/cloudstack/signer.test.ts',
  'api/config.test.ts',
  'api/discovery/discover.test.ts',
  'api/jobs/logic.test.ts',
  'api/jobs/placement.test.ts',
  'api/policy/assign.test.ts',
  'api/policy/decide.test.ts',
  'api/policy/retention.test.ts',
  'api/policy/schedule.test.ts',
  'db/sqlite/point-list.test.ts',
  'test/lint/layers.test.ts',
];

const EXCLUDE = ['**/node_modules/**', 'plugin-ui/**/node_modules/**'];
/**
 * Known failing, kept out of `npm test` on purpose (not skipped silently: named here and in the
 * issue): test/e2e/instances.test.ts (two `serve` processes, 20 VMs, one killed) found two real
 * faults not fixed yet — the scheduler claims a policy's run and then queues its VMs one by one,
 * so an instance killed in that loop loses the rest of the round's backups; and jobs mid-hand-off
 * to the agent are failed `interrupted` by the surviving instance instead of resent. Run it by
 * name: `npx vitest run --config test/vitest.config.ts --project known-failing`.
 */
const KNOWN_FAILING = ['test/e2e/instances.test.ts'];

export default defineConfig({
  root,
  test: {
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT, exclude: EXCLUDE, testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        extends: true,
        test: { name: 'lab', include: ALL, exclude: [...EXCLUDE, ...UNIT, ...KNOWN_FAILING], globalSetup: ['test/lab/global-setup.ts'] },
      },
      {
        extends: true,
        test: { name: 'known-failing', include: KNOWN_FAILING, exclude: EXCLUDE, globalSetup: ['test/lab/global-setup.ts'] },
      },
    ],
  },
});
