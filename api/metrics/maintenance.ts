/**
 * @layer usecase
 * The gauges of retention and verification that /metrics reads at scrape time: restore points by
 * verification status (`sendense_points_unverified`, `sendense_points_verification_failed`) and
 * maintenance jobs running. The counters (`sendense_verification_failures_total`,
 * `sendense_maintenance_jobs_total`) are counted by the MaintenanceRunner as jobs end.
 */
import type { Store } from '../../db/store.ts';
import type { Sample } from './registry.ts';

export async function maintenanceGauges(store: Store): Promise<Sample[]> {
  const [byStatus, running] = await Promise.all([store.points.countByVerification(), store.maintenance.count({ status: ['queued', 'running'] })]);
  return [
    { name: 'sendense_points_unverified', help: 'Restore points never verified', type: 'gauge', values: [{ value: byStatus.unverified }] },
    { name: 'sendense_points_verification_failed', help: 'Restore points whose last verification failed', type: 'gauge', values: [{ value: byStatus.failed }] },
    { name: 'sendense_points_verified', help: 'Restore points whose last verification passed', type: 'gauge', values: [{ value: byStatus.verified }] },
    { name: 'sendense_maintenance_jobs_unfinished', help: 'Prune, verify and import jobs queued or running', type: 'gauge', values: [{ value: running }] },
  ];
}
