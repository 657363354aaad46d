/**
 * @layer usecase
 * The hosts a deployment run works on: CloudStack's KVM hosts (`listHosts type=Routing
 * hypervisor=KVM`, picked by plan.ts selectHosts: id or name, zone, cluster, state and resource
 * state), and/or hosts named by address for machines CloudStack does not know yet.
 */
import type { CloudStackApi } from '../../cloudstack/port.ts';
import { selectHosts, type HostSelection, type SelectedHosts } from './plan.ts';
import type { DeployTarget } from './port.ts';

export interface TargetRequest extends HostSelection {
  /** hosts given by address ('name=10.0.0.5' or '10.0.0.5', optional ':port'), CloudStack not asked for them */
  addresses?: string[];
  /** take CloudStack's hosts (default: when no addresses are given) */
  fromCloudStack?: boolean;
}

/** 'name=addr[:port]' or 'addr[:port]' ([v6]:port too) as a target. */
export function parseAddress(spec: string): DeployTarget {
  const [name, rest] = spec.includes('=') ? spec.split(/=(.*)/s, 2) as [string, string] : [undefined, spec];
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (!m || !m[1]) throw new Error(`[deploy] '${spec}' is not a host address (name=ADDRESS[:PORT] or ADDRESS[:PORT])`);
  const port = m[2] ? Number(m[2]) : undefined;
  if (port !== undefined && (port < 1 || port > 65_535)) throw new Error(`[deploy] '${spec}': port ${port} is out of range`);
  return { name: name || m[1], address: m[1], ...(port ? { port } : {}) };
}

export async function resolveTargets(cs: Pick<CloudStackApi, 'listKvmHosts'> | undefined, req: TargetRequest, signal?: AbortSignal): Promise<SelectedHosts> {
  const named = (req.addresses ?? []).map(parseAddress);
  const useCs = req.fromCloudStack ?? named.length === 0;
  if (!useCs) return { targets: named, skipped: [], unknown: [] };
  if (!cs) throw new Error('[deploy] CloudStack is not configured: name the hosts by address');
  const rows = await cs.listKvmHosts({}, { signal });
  const sel = selectHosts(rows, req);
  return { ...sel, targets: [...sel.targets, ...named] };
}
