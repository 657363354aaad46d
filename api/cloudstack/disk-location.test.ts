import { describe, expect, it } from 'vitest';
import { diskLocation, DiskLocationError } from './disk-location.ts';

describe('diskLocation', () => {
  it('maps each pool type to where KVM sees the volume', () => {
    expect(diskLocation({ id: 'p1', type: 'NetworkFilesystem', path: '/export/primary' }, 'abc')).toEqual({ kind: 'file', path: '/mnt/p1/abc', format: 'qcow2' });
    expect(diskLocation({ id: 'p2', type: 'Filesystem', path: '/var/lib/libvirt/images/' }, 'v1')).toEqual({ kind: 'file', path: '/var/lib/libvirt/images/v1', format: 'qcow2' });
    expect(diskLocation({ id: 'p3', type: 'SharedMountPoint', path: '/mnt/gluster' }, '/v2')).toEqual({ kind: 'file', path: '/mnt/gluster/v2', format: 'qcow2' });
    expect(diskLocation({ id: 'p4', type: 'RBD', path: 'cloudstack' }, 'img-1')).toEqual({ kind: 'rbd', path: 'rbd:cloudstack/img-1', format: 'raw' });
    expect(diskLocation({ id: 'p5', type: 'CLVM', path: '/vg0' }, 'lv1')).toEqual({ kind: 'block', path: '/dev/vg0/lv1', format: 'raw' });
  });

  it('refuses what it cannot place', () => {
    expect(() => diskLocation({ id: 'p', type: 'PreSetup', path: '/x' }, 'v')).toThrow(DiskLocationError);
    expect(() => diskLocation({ id: 'p', type: 'Filesystem' }, 'v')).toThrow(/has no path/);
    expect(() => diskLocation({ id: 'p', type: 'NetworkFilesystem', path: '/x' }, '')).toThrow(/no path/);
  });
});
