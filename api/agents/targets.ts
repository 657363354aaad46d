/**
 * @layer logic
 * CloudStack's KVM agent names a VM's disks in libvirt by their device id: the bus prefix (vd for
 * virtio, sd for SCSI/SATA, hd for IDE) and the letter 'a' + device id (ROOT 0 → vda, a DATADISK
 * with device id 1 → vdb, 4 → vde; id 3 is the CD-ROM's). This is how a point's disk (by target)
 * is matched with a CloudStack volume (by device id).
 */
export function targetOfDevice(deviceId: number, prefix: 'vd' | 'sd' | 'hd' = 'vd'): string {
  if (!Number.isInteger(deviceId) || deviceId < 0 || deviceId > 25) throw new RangeError(`[agents] device id ${deviceId} has no one-letter disk name`);
  return `${prefix}${String.fromCharCode(97 + deviceId)}`;
}

export function deviceOfTarget(target: string): number | undefined {
  const m = /^(?:vd|sd|hd|xvd)([a-z])$/.exec(target);
  return m ? m[1].charCodeAt(0) - 97 : undefined;
}
