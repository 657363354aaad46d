/**
 * @layer port
 * Names for the API's answers the views pass around, all inferred from the typed client (so
 * from the Hono routes and their zod schemas): nothing here is written by hand.
 */
import type { InferResponseType } from 'hono/client';
import type { z } from 'zod';
import type { VmListQuery } from '../../../api/http/vm-schemas.ts';
import type { Api } from './types.ts';

type V1 = Api['api']['v1'];
export type VmList = InferResponseType<V1['vms']['$get'], 200>;
export type Vm = VmList['items'][number];
export type VmQuery = NonNullable<Parameters<V1['vms']['$get']>[0]>['query'];
export type Protection = Vm['protection']['status'];
export type Platform = Vm['protection']['platform'];
/** what the VM list sorts by, from the route's zod query schema */
export type VmSort = z.output<typeof VmListQuery>['sort'];
export type Overview = InferResponseType<V1['overview']['$get'], 200>;
export type VmDetail = InferResponseType<V1['vms'][':id']['$get'], 200>;
export type Job = InferResponseType<V1['jobs'][':id']['$get'], 200>;
export type JobList = InferResponseType<V1['jobs']['$get'], 200>;
export type PointList = InferResponseType<V1['vms'][':id']['restore-points']['$get'], 200>;
export type Point = PointList['items'][number];
export type Preview = InferResponseType<V1['vms'][':id']['retention']['preview']['$get'], 200>;
export type Restore = InferResponseType<V1['restores'][':id']['$get'], 200>;
export type RestoreList = InferResponseType<V1['restores']['$get'], 200>;
export type Policy = InferResponseType<V1['policies'][':id']['$get'], 200>;
export type PolicyBody = NonNullable<Parameters<V1['policies']['$post']>[0]>['json'];
export type Host = InferResponseType<V1['hosts']['$get'], 200>['items'][number];
export type Agent = InferResponseType<V1['agents']['$get'], 200>['items'][number];
export type Repository = InferResponseType<V1['repositories']['$get'], 200>['items'][number];
export type AuditEntry = InferResponseType<V1['audit']['$get'], 200>['items'][number];
