/**
 * @layer port
 * delegateGateway: an AgentGateway that forwards every verb to `inner`, except the ones given in
 * `over` — for wrappers and tests that change one verb (hold a dispatch, doctor a status) and must
 * keep the rest of the port as it grows.
 */
import type { AgentGateway, AgentImportRequest, GatewayCallOptions } from './port.ts';

export function delegateGateway(inner: AgentGateway, over: Partial<AgentGateway> = {}): AgentGateway {
  return {
    startBackup: over.startBackup ?? ((h, r, o) => inner.startBackup(h, r, o)),
    startRestore: over.startRestore ?? ((h, r, o) => inner.startRestore(h, r, o)),
    startVerify: over.startVerify ?? ((h, r, o) => inner.startVerify(h, r, o)),
    startPrune: over.startPrune ?? ((h, r, o) => inner.startPrune(h, r, o)),
    scan: over.scan ?? ((h, r, o) => inner.scan(h, r, o)),
    // optional: forwarded only when one of the two has it
    ...(over.startImport || inner.startImport ? { startImport: over.startImport ?? ((h: string, r: AgentImportRequest, o?: GatewayCallOptions) => inner.startImport!(h, r, o)) } : {}),
    exportImage: over.exportImage ?? ((h, r, o) => inner.exportImage(h, r, o)),
    jobStatus: over.jobStatus ?? ((h, id, o) => inner.jobStatus(h, id, o)),
    events: over.events ?? ((h, id, o) => inner.events(h, id, o)),
    cancel: over.cancel ?? ((h, id, o) => inner.cancel(h, id, o)),
    health: over.health ?? ((h, o) => inner.health(h, o)),
  };
}
