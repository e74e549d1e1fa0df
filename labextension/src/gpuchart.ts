import uPlot from 'uplot';

/** A small time-series chart (uPlot): one metric of one GPU over the history window. */
export class GpuChart {
  constructor(
    parent: HTMLElement,
    private options: { label: string; unit: string; color: string }
  ) {
    this.node = document.createElement('div');
    this.node.className = 'jp-GpuChart';
    this.title = document.createElement('div');
    this.title.className = 'jp-GpuChart-title';
    this.plotNode = document.createElement('div');
    this.node.append(this.title, this.plotNode);
    parent.append(this.node);
  }

  /** Show ``[times, values]`` with y from 0 to ``max`` (the total, the limit) when known. */
  update(
    data: [number[], number[]] | undefined,
    max: number | null,
    text: string
  ): void {
    this.title.textContent = `${this.options.label}: ${text}`;
    this.max = max;
    const series: uPlot.AlignedData = data ? [data[0], data[1]] : [[], []];
    const width = Math.max(this.node.clientWidth, 120);
    if (this.plot === null) {
      this.plot = new uPlot(this.plotOptions(width), series, this.plotNode);
    } else {
      if (Math.abs(this.plot.width - width) > 2) {
        this.plot.setSize({ width, height: HEIGHT });
      }
      this.plot.setData(series);
    }
  }

  dispose(): void {
    this.plot?.destroy();
    this.plot = null;
    this.node.remove();
  }

  private plotOptions(width: number): uPlot.Options {
    // a canvas does not resolve CSS variables: read the theme's colours now
    const style = getComputedStyle(document.body);
    const text =
      style.getPropertyValue('--jp-ui-font-color2').trim() || '#616161';
    const grid =
      style.getPropertyValue('--jp-border-color2').trim() || '#e0e0e0';
    return {
      width,
      height: HEIGHT,
      legend: { show: false },
      cursor: { show: true, points: { show: false } },
      scales: {
        x: { time: true },
        y: { range: (u, min, max) => [0, Math.max(this.max ?? 0, max, 1)] }
      },
      axes: [
        {
          stroke: text,
          size: 24,
          grid: { stroke: grid, width: 1 },
          ticks: { size: 3, stroke: grid }
        },
        {
          stroke: text,
          size: 44,
          grid: { stroke: grid, width: 1 },
          ticks: { size: 3, stroke: grid },
          values: (u, splits) =>
            splits.map(v => `${fmt(v)}${this.options.unit}`)
        }
      ],
      series: [
        {},
        {
          label: this.options.label,
          stroke: this.options.color,
          fill: this.options.color + '33',
          width: 1.5,
          points: { show: false }
        }
      ]
    };
  }

  readonly node: HTMLDivElement;
  private title: HTMLDivElement;
  private plotNode: HTMLDivElement;
  private plot: uPlot | null = null;
  private max: number | null = null;
}

const HEIGHT = 90;

function fmt(v: number): string {
  return Math.abs(v) >= 100
    ? v.toFixed(0)
    : String(parseFloat(v.toPrecision(2)));
}
