/** virsh against qemu:///system, arguments never through a shell. */
import { run, type RunOptions } from '../../agent/system/run.ts';

export async function virsh(args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await run('virsh', ['-q', '-c', 'qemu:///system', ...args], { timeoutMs: 60_000, ...opts });
  return r.stdout;
}

export async function hmp(domain: string, command: string): Promise<string> {
  const out = await virsh(['qemu-monitor-command', domain, '--hmp', command]);
  // HMP reports qemu-io failures on stdout with exit 0: make them errors
  if (/error|failed|Permission denied|Invalid/i.test(out) && !/wrote|read /.test(out)) {
    throw new Error(`[lab] HMP '${command}' on ${domain}: ${out.trim()}`);
  }
  return out;
}
