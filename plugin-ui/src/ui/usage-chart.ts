/**
 * @layer adapter
 * A small bar or doughnut chart (Chart.js) with the theme's colours; the numbers are bytes.
 * A table with the same figures sits behind it for screen readers.
 */
import { html, LitElement, css, type PropertyValues } from 'lit';
import { Chart, BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, Legend, Tooltip } from 'chart.js';
import { bytes } from '../logic/format.ts';
import { theme } from './theme.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, DoughnutController, ArcElement, Legend, Tooltip);

const COLOURS = ['#1890ff', '#52c41a', '#faad14', '#f5222d', '#722ed1', '#13c2c2'];

export class SdUsageChart extends LitElement {
  static override styles = [theme, css`
    :host { display: block; position: relative; }
    .box { position: relative; height: 220px; max-width: 640px; }
    .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  `];
  static override properties = { kind: {}, labels: { attribute: false }, series: { attribute: false } };
  declare kind: 'bar' | 'doughnut';
  declare labels: string[];
  declare series: { label: string; values: number[] }[];
  private chart: Chart | undefined;

  constructor() {
    super();
    this.kind = 'bar';
    this.labels = [];
    this.series = [];
  }

  override disconnectedCallback() {
    super.disconnectedCallback();
    this.chart?.destroy();
    this.chart = undefined;
  }

  protected override updated(_: PropertyValues) {
    const canvas = this.renderRoot.querySelector('canvas');
    if (!canvas) return;
    this.chart?.destroy();
    const dark = matchMedia('(prefers-color-scheme: dark)').matches;
    const text = dark ? 'rgba(255,255,255,0.85)' : 'rgba(0,0,0,0.85)';
    const grid = dark ? '#303030' : '#f0f0f0';
    this.chart = new Chart(canvas, {
      type: this.kind,
      data: {
        labels: this.labels,
        datasets: this.series.map((s, i) => ({
          label: s.label, data: s.values,
          backgroundColor: this.kind === 'doughnut' ? this.labels.map((_, j) => COLOURS[j % COLOURS.length]) : COLOURS[i % COLOURS.length],
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: this.kind === 'doughnut', labels: { color: text } }, tooltip: { callbacks: { label: (c) => `${c.label}: ${bytes(Number(c.raw))}` } } },
        scales: this.kind === 'bar' ? {
          x: { ticks: { color: text }, grid: { color: grid } },
          y: { ticks: { color: text, callback: (v) => bytes(Number(v)) }, grid: { color: grid }, beginAtZero: true },
        } : {},
      },
    });
  }

  override render() {
    return html`<div class="box"><canvas role="img" aria-label=${this.series.map((s) => s.label).join(', ')}></canvas></div>
      <table class="sr"><tbody>${this.labels.map((l, i) => html`<tr><th scope="row">${l}</th>${this.series.map((s) => html`<td>${bytes(s.values[i])}</td>`)}</tr>`)}</tbody></table>`;
  }
}
customElements.define('sd-usage-chart', SdUsageChart);
