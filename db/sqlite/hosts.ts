/**
 * @layer adapter
 * HostStore and AgentStore over SQLite: CloudStack's KVM hosts (cloudstack_hosts) and the
 * Sendense agent on each of them (cloudstack_agents: status, heartbeat, version, capabilities).
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray, isNull } from 'drizzle-orm';
import { cloudstackAgents, cloudstackHosts } from '../schema.ts';
import type { AgentStore, HostStore } from '../store.ts';
import type { Db } from './db.ts';

export function createHostStore(db: Db): HostStore {
  return {
    async list(opts = {}) {
      return db.select().from(cloudstackHosts).where(opts.includeRemoved ? undefined : isNull(cloudstackHosts.removedAt))
        .orderBy(asc(cloudstackHosts.name)).all();
    },
    async get(id) {
      return db.select().from(cloudstackHosts).where(eq(cloudstackHosts.id, id)).get();
    },
    async upsert(rows) {
      db.transaction((tx) => {
        for (const row of rows) {
          const { id: _id, ...rest } = row;
          tx.insert(cloudstackHosts).values(row).onConflictDoUpdate({ target: cloudstackHosts.id, set: { ...rest, removedAt: null } }).run();
        }
      });
    },
    async markRemoved(ids, at) {
      if (ids.length === 0) return;
      db.update(cloudstackHosts).set({ removedAt: at }).where(and(inArray(cloudstackHosts.id, ids), isNull(cloudstackHosts.removedAt))).run();
    },
  };
}

export function createAgentStore(db: Db): AgentStore {
  const byHost = (hostId: string) => db.select().from(cloudstackAgents).where(eq(cloudstackAgents.hostId, hostId)).get();
  return {
    async list() {
      return db.select().from(cloudstackAgents).orderBy(asc(cloudstackAgents.hostname)).all();
    },
    async getByHost(hostId) {
      return byHost(hostId);
    },
    async ensure(h) {
      const now = new Date();
      db.insert(cloudstackAgents).values({ id: randomUUID(), ...h, status: 'inactive', createdAt: now, updatedAt: now })
        .onConflictDoUpdate({ target: cloudstackAgents.hostId, set: { hostIp: h.hostIp, hostname: h.hostname, updatedAt: now } }).run();
      return byHost(h.hostId)!;
    },
    async heartbeat(hostId, beat) {
      const set: Partial<typeof cloudstackAgents.$inferInsert> = { status: beat.status, statusMessage: beat.message ?? null, updatedAt: beat.at };
      if (beat.status === 'active') set.lastHeartbeatAt = beat.at;
      if (beat.version !== undefined) set.agentVersion = beat.version;
      if (beat.hostname !== undefined) set.hostname = beat.hostname;
      if (beat.capabilities !== undefined) set.capabilities = beat.capabilities;
      if (beat.sshKeyFingerprint !== undefined) set.sshKeyFingerprint = beat.sshKeyFingerprint;
      db.update(cloudstackAgents).set(set).where(eq(cloudstackAgents.hostId, hostId)).run();
    },
  };
}
