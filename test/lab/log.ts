/** The lab's own voice on stderr, so test output says what the lab did to the machine. */
export function log(msg: string): void {
  process.stderr.write(`[lab] ${msg}\n`);
}
