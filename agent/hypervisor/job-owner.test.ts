import { describe, expect, it } from 'vitest';
import { parseBackupXml } from './backup-xml.ts';
import { busyMessage, jobOperation, jobOwner } from './job-owner.ts';

const dump = (socket: string, mode = "mode='pull'", incremental = '') => parseBackupXml(
  `<domainbackup ${mode}><server transport='unix' socket='${socket}'/><disks><disk name='vda' backup='yes' type='file' ${incremental} exportname='vda'><scratch file='/x/s.qcow2'/></disk></disks></domainbackup>`);

describe('whose libvirt job is it (issue 12 item 3)', () => {
  it('reads the operation of domjobinfo, or the job type before libvirt 6', () => {
    expect(jobOperation('Job type:         None\n')).toBeUndefined();
    expect(jobOperation('Job type:         Unbounded\nOperation:        Outgoing migration\nTime elapsed: 5 ms\n')).toBe('Outgoing migration');
    expect(jobOperation('Job type:         Unbounded\nOperation:        Backup\n')).toBe('Backup');
    expect(jobOperation('Job type:         Unbounded\n')).toBe('Unbounded');
  });

  it("only a pull backup on a Sendense job socket or from a sendense- checkpoint is Sendense's", () => {
    expect(jobOwner('Backup', dump('/var/lib/sendense-agent/jobs/job-0a1b2c3d/nbd.sock'))).toEqual({ sendense: true });
    expect(jobOwner('Backup', dump('/var/lib/sendense-agent/jobs/job-0a1b2c3d/vdb.sock'))).toEqual({ sendense: true });
    expect(jobOwner('Backup', dump('/tmp/other/backup.sock', "mode='pull'", "backupmode='incremental' incremental='sendense-20261201-101010'"))).toEqual({ sendense: true });
    expect(jobOwner('Backup', dump('/tmp/virtnbdbackup/backup.sock'))).toEqual({ sendense: false, what: "Backup (pull, socket /tmp/virtnbdbackup/backup.sock: not Sendense's)" });
    expect(jobOwner('Backup', dump('/x/job-0a1b2c3d/nbd.sock', ''))).toMatchObject({ sendense: false, what: expect.stringContaining('push') });
    expect(jobOwner('Backup', undefined)).toMatchObject({ sendense: false });
    expect(jobOwner('Outgoing migration', dump('/x/job-0a1b2c3d/nbd.sock'))).toEqual({ sendense: false, what: 'Outgoing migration' });
    expect(jobOwner('Dump', undefined)).toEqual({ sendense: false, what: 'Dump' });
    expect(busyMessage('i-2-10-VM', 'Outgoing migration')).toMatch(/^busy: Outgoing migration — domain 'i-2-10-VM' .* leaves it alone/);
  });
});
