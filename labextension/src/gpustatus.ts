import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import { GpuModel } from './gpumodel';
import { formatBytes } from './panel';

/** Status-bar item: utilisation and memory of the busiest GPU; a warning sign with a notice. */
export class GpuStatus extends Widget {
  constructor(
    private model: GpuModel,
    onClick: () => void
  ) {
    super();
    this.addClass('jp-GpuStatus');
    this.node.title = 'GPU: open the GPU panel';
    this.node.onclick = onClick;
    model.onChange(() => this.render());
  }

  /** Shown only when there is a GPU to report on. */
  get active(): boolean {
    return this.model.state?.available === true;
  }

  /** Fired when ``active`` flips (a GPU appears or the state says there is none). */
  readonly activeChanged = new Signal<this, void>(this);

  private render(): void {
    if (this.active !== this.wasActive) {
      this.wasActive = this.active;
      this.activeChanged.emit();
    }
    const gpu = this.model.busiest();
    const notices = this.model.notices;
    if (gpu === null) {
      this.node.textContent = '';
      return;
    }
    const util =
      gpu.utilization === null ? 'n/a' : `${gpu.utilization.toFixed(0)}%`;
    const mem =
      gpu.memory_used === null
        ? 'n/a'
        : `${formatBytes(gpu.memory_used)}/${formatBytes(gpu.memory_total)}`;
    this.node.textContent = `${notices.length ? '⚠ ' : ''}GPU ${gpu.id}: ${util} · ${mem}`;
    this.node.title = notices.length
      ? notices[notices.length - 1].message
      : 'Busiest GPU: utilisation and memory. Click for the GPU panel.';
  }

  private wasActive = false;
}
