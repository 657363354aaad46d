/**
 * @layer entry
 * A one-line progress bar with bytes/s on a terminal (stderr); silent when stderr is not a TTY.
 */
export function human(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function progressBar(label: string): { update(done: number, total: number, note?: string): void; end(): void } {
  const tty = process.stderr.isTTY;
  const t0 = Date.now();
  let last = 0;
  return {
    update(done, total, note = '') {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const w = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 1;
      const rate = done / Math.max(0.001, (now - t0) / 1000);
      const bar = '#'.repeat(Math.round(frac * w)).padEnd(w, '.');
      process.stderr.write(`\r${label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${human(done)}/${human(total)} ${human(rate)}/s ${note}\x1b[K`);
    },
    end() {
      if (tty) process.stderr.write('\n');
    },
  };
}
