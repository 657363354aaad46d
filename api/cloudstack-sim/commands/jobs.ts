/**
 * @layer usecase
 * queryAsyncJobResult: jobstatus 0 while pending, 1 with `jobresult` when done, 2 with
 * jobresultcode 530 and `jobresult: {errorcode, errortext}` when failed.
 */
import { canAccessAccount } from '../access.ts';
import { apiErrors } from '../api-error.ts';
import { ALL, type CommandDef } from './command.ts';

export const jobCommands: Record<string, CommandDef> = {
  queryAsyncJobResult: {
    roles: ALL,
    params: { jobid: { type: 'uuid', required: true } },
    run({ rt, caller, args }) {
      const job = rt.find([...rt.jobs.values()], args.jobid, 'queryAsyncJobResult', 'jobid');
      if (!canAccessAccount(rt.state, caller, job.accountId)) throw apiErrors.permissionDenied(`Account ${caller.account.name} does not have permission to access job ${job.id}`);
      return {
        kind: 'object', body: {
          accountid: job.accountId, userid: job.userId, cmd: job.cmd, jobstatus: job.status, jobprocstatus: 0, jobresultcode: job.resultCode,
          ...(job.status !== 0 ? { jobresulttype: 'object', jobresult: job.result } : {}),
          ...(job.instanceType ? { jobinstancetype: job.instanceType, jobinstanceid: job.instanceId } : {}),
          created: rt.date(job.created), ...(job.completed !== undefined ? { completed: rt.date(job.completed) } : {}), jobid: job.id,
        },
      };
    },
  },
};
