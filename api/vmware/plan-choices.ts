/**
 * @layer usecase
 * What CloudStack offers a restore plan (api/vmware/restore-plan.ts): its zones, service
 * offerings and guest networks, read with the control plane's root-admin client.
 */
import type { PlanNetwork, PlanOffering, PlanZone } from './restore-plan.ts';

/** What the plan reads of CloudStack (the CloudStackClient has both). */
export interface PlanCloudStack {
  listZones(filter: Record<string, never>, opts: { signal?: AbortSignal }): Promise<{ id: unknown; name: unknown }[]>;
  listAll(command: string, params: Record<string, string | boolean>, opts: { signal?: AbortSignal }): Promise<Record<string, unknown>[]>;
}

export async function planChoices(cs: PlanCloudStack, signal?: AbortSignal): Promise<{ zones: PlanZone[]; offerings: PlanOffering[]; networks: PlanNetwork[] }> {
  const [zones, offerings, networks] = await Promise.all([
    cs.listZones({}, { signal }).then((zs) => zs.map((z) => ({ id: String(z.id), name: String(z.name) }))),
    cs.listAll('listServiceOfferings', {}, { signal }).then((xs) => xs.map((x) => ({ id: String(x.id), name: String(x.name), cpuNumber: Number(x.cpunumber), memory: Number(x.memory) }))),
    cs.listAll('listNetworks', { listall: true }, { signal }).then((ns) => ns.map((n) => ({ id: String(n.id), name: String(n.name), zoneId: String(n.zoneid) }))),
  ]);
  return { zones, offerings, networks };
}
