/**
 * assessAgent (pure): the status a heartbeat records and the events a change raises — once per
 * change, not every round.
 */
import { describe, expect, it } from 'vitest';
import { agentHealth, assessAgent, DEFAULT_HEALTH_RULES, type HealthProbe, type RecordedAgent } from './assess.ts';

const GiB = 2 ** 30;
const rules = { ...DEFAULT_HEALTH_RULES, controlPlaneVersion: '0.2.0' };
const fresh: RecordedAgent = { hostname: 'kvm1', status: 'inactive', statusMessage: null, agentVersion: null, lastHeartbeatAt: null, capabilities: null };
const caps = (free = 50 * GiB, total = 100 * GiB, extra: Record<string, unknown> = {}) => ({ ok: true, problems: [], jobs: { running: 1, queued: 2 }, workDir: { path: '/var/lib/sendense-agent/jobs', freeBytes: free, totalBytes: total }, ...extra });
const ok = (version = '0.2.0', c: Record<string, unknown> = caps()): HealthProbe => ({ answered: true, version, capabilities: c });
const down: HealthProbe = { answered: false, unreachable: true, message: '[agent-gateway] host h1: health: connect ECONNREFUSED' };
const at = new Date('2026-12-01T23:50:00.000Z');

/** the row after recording a verdict (as the store does: last heartbeat only when active) */
function after(prev: RecordedAgent, probe: HealthProbe): RecordedAgent {
  const v = assessAgent(prev, probe, rules);
  return {
    ...prev, status: v.status, statusMessage: v.message,
    ...(probe.answered ? { agentVersion: probe.version, capabilities: probe.capabilities } : {}),
    ...(v.status === 'active' ? { lastHeartbeatAt: at } : {}),
  };
}
const kinds = (prev: RecordedAgent, probe: HealthProbe) => assessAgent(prev, probe, rules).events.map((e) => e.kind);

describe('assessAgent', () => {
  it('first answer: active, `up`; then nothing more while it stays so', () => {
    const v = assessAgent(fresh, ok(), rules);
    expect(v).toMatchObject({ status: 'active', message: null });
    expect(v.events.map((e) => e.kind)).toEqual(['up']);
    expect(kinds(after(fresh, ok()), ok())).toEqual([]);
  });

  it('an active agent that stops answering is lost, once, with its last heartbeat; back again: recovered', () => {
    const alive = after(fresh, ok());
    const v = assessAgent(alive, down, rules);
    expect(v.status).toBe('inactive');
    expect(v.message).toMatch(/ECONNREFUSED/);
    expect(v.events).toHaveLength(1);
    expect(v.events[0]).toMatchObject({ kind: 'lost', message: 'agent on kvm1 lost (last heartbeat 2026-12-01T23:50:00.000Z): [agent-gateway] host h1: health: connect ECONNREFUSED' });
    const lost = after(alive, down);
    expect(kinds(lost, down)).toEqual([]);
    const back = assessAgent(lost, ok(), rules);
    expect(back.status).toBe('active');
    expect(back.events.map((e) => e.kind)).toEqual(['recovered']);
    expect(back.events[0].message).toBe('agent on kvm1 is back (inactive since last heartbeat 2026-12-01T23:50:00.000Z)');
  });

  it('an agent never reached is lost at its first check, not at every one', () => {
    expect(kinds(fresh, down)).toEqual(['lost']);
    expect(kinds(after(fresh, down), down)).toEqual([]);
  });

  it('an answer that says it cannot back up is an error with its problems; a wrong answer too', () => {
    const alive = after(fresh, ok());
    const v = assessAgent(alive, ok('0.2.0', caps(50 * GiB, 100 * GiB, { ok: false, problems: ['libvirt cannot do pull-mode backups'] })), rules);
    expect(v).toMatchObject({ status: 'error', message: 'libvirt cannot do pull-mode backups' });
    expect(v.events.map((e) => e.kind)).toEqual(['error']);
    const wrong = assessAgent(alive, { answered: false, unreachable: false, message: 'not what the agent daemon sends' }, rules);
    expect(wrong).toMatchObject({ status: 'error', message: 'not what the agent daemon sends' });
    expect(wrong.events.map((e) => e.kind)).toEqual(['error']);
  });

  it('a version other than the control plane\'s drifts: an event when first seen, a warning on the row while it lasts', () => {
    const v = assessAgent(fresh, ok('0.1.0'), rules);
    expect(v.status).toBe('active');
    expect(v.events.map((e) => e.kind)).toEqual(['up', 'version_drift']);
    expect(v.events[1].message).toBe('agent on kvm1 runs version 0.1.0, the control plane 0.2.0: upgrade it (sendense agents upgrade)');
    expect(v.message).toBe("version 0.1.0 is not the control plane's 0.2.0");
    const drifting = after(fresh, ok('0.1.0'));
    expect(kinds(drifting, ok('0.1.0'))).toEqual([]);
    expect(kinds(drifting, ok('0.1.1'))).toEqual(['version_drift']);
    expect(kinds(drifting, ok('0.2.0'))).toEqual([]);
    expect(assessAgent(drifting, ok('0.2.0'), rules).message).toBeNull();
    // no control plane version given: no drift check
    expect(assessAgent(fresh, ok('0.1.0'), DEFAULT_HEALTH_RULES).events.map((e) => e.kind)).toEqual(['up']);
  });

  it('a work dir below 1 GiB or 5 % free is full: an event when it fills, another when it has room again', () => {
    const alive = after(fresh, ok());
    const nearly = ok('0.2.0', caps(0.5 * GiB, 100 * GiB));
    const v = assessAgent(alive, nearly, rules);
    expect(v.status).toBe('active');
    expect(v.events.map((e) => e.kind)).toEqual(['work_dir_full']);
    expect(v.events[0].message).toBe('agent on kvm1: work dir /var/lib/sendense-agent/jobs is nearly full (0.5 GiB free of 100.0 GiB): restores and exports need room there');
    expect(v.message).toBe('work dir nearly full: 0.5 GiB free of 100.0 GiB');
    const full = after(alive, nearly);
    expect(kinds(full, nearly)).toEqual([]);
    expect(kinds(full, ok('0.2.0', caps(4 * GiB, 100 * GiB)))).toEqual([]); // 4 % of 100 GiB: still full, no second event
    expect(kinds(full, ok('0.2.0', caps(20 * GiB, 100 * GiB)))).toEqual(['work_dir_freed']);
    expect(kinds(alive, ok('0.2.0', caps(3 * GiB, 50 * GiB)))).toEqual([]); // 6 %, 3 GiB: fine
  });
});

describe('agentHealth', () => {
  it('reads drift, work dir, problems and jobs from a recorded answer; nothing from none', () => {
    expect(agentHealth(caps(0.5 * GiB, 10 * GiB, { problems: ['x'] }), '0.1.0', rules)).toEqual({
      versionDrift: '0.1.0', workDir: { path: '/var/lib/sendense-agent/jobs', freeBytes: 0.5 * GiB, totalBytes: 10 * GiB, full: true }, problems: ['x'], jobs: { running: 1, queued: 2 },
    });
    expect(agentHealth(null, null, rules)).toEqual({ versionDrift: null, workDir: null, problems: [], jobs: null });
  });
});
