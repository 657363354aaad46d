/**
 * @layer logic
 * What a libvirt / QEMU error message means for the port: virsh's stderr → HypervisorErrorCode.
 * The patterns are libvirt 9 / QEMU 7.2 wording, checked by the contract suite against the real
 * daemons; anything unrecognised stays 'libvirt'.
 */
import type { HypervisorErrorCode } from './port.ts';

const RULES: [RegExp, HypervisorErrorCode][] = [
  [/failed to get domain|Domain not found|no domain with matching/i, 'not-found'],
  [/cannot acquire state change lock|another job is active|job .* is already active|currently in use by another operation/i, 'job-active'],
  [/checkpoint inconsistent|is inconsistent and cannot be used|missing or broken bitmap/i, 'bitmap-inconsistent'],
  [/Bitmap already exists/i, 'bitmap-exists'],
  [/checkpoint .* already exists|domain moment .* already exists/i, 'checkpoint-exists'],
  [/Domain checkpoint not found|no domain checkpoint with matching name|for incremental backup of disk .* not found/i, 'checkpoint-missing'],
  [/domain is not running|not valid: domain is not running/i, 'not-running'],
  [/unsupported configuration|argument unsupported|Operation not supported/i, 'unsupported'],
  [/Failed to get ".*" lock|Is another process using the image/i, 'busy'],
];

export function classifyLibvirtError(stderr: string): HypervisorErrorCode {
  for (const [re, code] of RULES) if (re.test(stderr)) return code;
  return 'libvirt';
}

/** The last meaningful line of virsh's stderr, without the 'error: ' prefixes. */
export function libvirtReason(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.replace(/^error:\s*/, '').trim()).filter(Boolean);
  return lines.slice(-2).join(': ') || 'no message';
}
