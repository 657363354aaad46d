/**
 * @layer logic
 * A small Prometheus registry: counters and histograms that live in the process (HTTP requests,
 * their durations), and gauges read at scrape time (jobs by status, points, agents), rendered in
 * the text exposition format 0.0.4.
 */
export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: { labels?: Labels; value: number }[];
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (l?: Labels) => {
  const e = Object.entries(l ?? {});
  return e.length ? `{${e.map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}` : '';
};
const key = (l: Labels) => JSON.stringify(Object.entries(l).sort());

export class MetricsRegistry {
  private readonly counters = new Map<string, { help: string; values: Map<string, { labels: Labels; value: number }> }>();
  private readonly histograms = new Map<string, { help: string; values: Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }> }>();

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = { help, values: new Map() }));
    const k = key(labels);
    const v = c.values.get(k) ?? { labels, value: 0 };
    v.value += by;
    c.values.set(k, v);
  }

  observe(name: string, help: string, labels: Labels, seconds: number): void {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = { help, values: new Map() }));
    const k = key(labels);
    const v = h.values.get(k) ?? { labels, buckets: BUCKETS.map(() => 0), sum: 0, count: 0 };
    BUCKETS.forEach((b, i) => { if (seconds <= b) v.buckets[i]++; });
    v.sum += seconds;
    v.count++;
    h.values.set(k, v);
  }

  render(gauges: Sample[] = []): string {
    const out: string[] = [];
    for (const s of gauges) {
      out.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`);
      for (const v of s.values) out.push(`${s.name}${labelText(v.labels)} ${v.value}`);
    }
    for (const [name, c] of this.counters) {
      out.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`);
      for (const v of c.values.values()) out.push(`${name}${labelText(v.labels)} ${v.value}`);
    }
    for (const [name, h] of this.histograms) {
      out.push(`# HELP ${name} ${h.help}`, `# TYPE ${name} histogram`);
      for (const v of h.values.values()) {
        BUCKETS.forEach((b, i) => out.push(`${name}_bucket${labelText({ ...v.labels, le: String(b) })} ${v.buckets[i]}`));
        out.push(`${name}_bucket${labelText({ ...v.labels, le: '+Inf' })} ${v.count}`);
        out.push(`${name}_sum${labelText(v.labels)} ${v.sum}`, `${name}_count${labelText(v.labels)} ${v.count}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}
