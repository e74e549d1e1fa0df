import { Dialog, showDialog } from '@jupyterlab/apputils';
import { KernelAPI, ServerConnection } from '@jupyterlab/services';
import { closeIcon, refreshIcon, stopIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { GpuChart } from './gpuchart';
import { GpuModel, IGpu, IGpuProcess } from './gpumodel';
import { formatBytes } from './panel';
import { labButton } from './ui';

const GIB = 1024 ** 3;

/** One card per GPU (or MIG instance): four live charts. */
class GpuCard {
  constructor(parent: HTMLElement, gpu: IGpu) {
    this.node = document.createElement('section');
    this.node.className = 'jp-GpuCard';
    this.node.dataset.gpu = gpu.id;
    const h3 = document.createElement('h3');
    h3.textContent = `GPU ${gpu.id}: ${gpu.name}`;
    this.node.append(h3);
    parent.append(this.node);
    this.charts = {
      utilization: new GpuChart(this.node, {
        label: 'Utilisation',
        unit: '%',
        color: '#1f77b4'
      }),
      memory_used: new GpuChart(this.node, {
        label: 'Memory',
        unit: 'G',
        color: '#9467bd'
      }),
      temperature: new GpuChart(this.node, {
        label: 'Temperature',
        unit: '°',
        color: '#d62728'
      }),
      power: new GpuChart(this.node, {
        label: 'Power',
        unit: 'W',
        color: '#ff7f0e'
      })
    };
  }

  update(gpu: IGpu, series: Record<string, [number[], number[]]>): void {
    const none = 'n/a';
    const mem = series['memory_used'];
    const memGiB: [number[], number[]] | undefined = mem
      ? [mem[0], mem[1].map(v => v / GIB)]
      : undefined;
    this.charts.utilization.update(
      series['utilization'],
      100,
      gpu.utilization === null ? none : `${gpu.utilization.toFixed(0)} %`
    );
    this.charts.memory_used.update(
      memGiB,
      gpu.memory_total === null ? null : gpu.memory_total / GIB,
      gpu.memory_used === null
        ? none
        : `${formatBytes(gpu.memory_used)} / ${formatBytes(gpu.memory_total)}`
    );
    if (gpu.mig) {
      // NVML reports temperature and power per physical GPU: see the parent's card
      this.charts.temperature.node.hidden = true;
      this.charts.power.node.hidden = true;
      return;
    }
    this.charts.temperature.update(
      series['temperature'],
      null,
      gpu.temperature === null ? none : `${gpu.temperature.toFixed(0)} °C`
    );
    this.charts.power.update(
      series['power'],
      gpu.power_limit,
      gpu.power === null
        ? none
        : `${gpu.power.toFixed(0)} W` +
            (gpu.power_limit ? ` of ${gpu.power_limit.toFixed(0)} W` : '')
    );
  }

  dispose(): void {
    Object.values(this.charts).forEach(c => c.dispose());
    this.node.remove();
  }

  readonly node: HTMLElement;
  private charts: Record<string, GpuChart>;
}

/**
 * The "GPUs" side panel: live charts per GPU, GPU memory by notebook with kernel actions, the
 * culler's notices, and the reason when there is no GPU. Streams only while shown.
 */
export class GpuPanel extends Widget {
  constructor(
    private model: GpuModel,
    private settings: ServerConnection.ISettings,
    private onKernelsChanged: () => void = () => undefined
  ) {
    super();
    this.id = 'jupyter-hybrid-gpu';
    this.addClass('jp-GpuPanel');
    this.title.label = 'GPUs';
    this.title.caption = 'GPU panel: live metrics and memory by notebook';
    const h2 = document.createElement('h2');
    h2.textContent = 'GPUs';
    const header = document.createElement('div');
    header.className = 'jp-HybridPanel-header';
    header.append(
      h2,
      labButton({
        icon: refreshIcon,
        title: 'Refresh: read the GPUs and their processes now',
        onClick: () => void this.model.refresh()
      })
    );
    this.notices = document.createElement('div');
    this.notices.className = 'jp-GpuPanel-notices';
    this.message = document.createElement('p');
    this.message.className = 'jp-GpuPanel-message';
    this.cards = document.createElement('div');
    this.cards.className = 'jp-GpuPanel-cards';
    const h3 = document.createElement('h3');
    h3.textContent = 'GPU memory by notebook';
    this.table = document.createElement('table');
    this.table.className = 'jp-GpuPanel-processes';
    this.processes = document.createElement('div');
    this.processes.append(h3, this.table);
    this.footer = document.createElement('p');
    this.footer.className = 'jp-GpuPanel-footer';
    this.node.append(
      header,
      this.notices,
      this.message,
      this.cards,
      this.processes,
      this.footer
    );
    this.message.textContent = 'Loading…';
    this.model.onChange(() => this.render());
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  dispose(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    super.dispose();
  }

  protected onAfterShow(): void {
    this.model.setLive(document.visibilityState === 'visible');
    this.render();
  }

  protected onAfterHide(): void {
    this.model.setLive(false); // pause: no stream, no chart updates
  }

  private onVisibility = (): void => {
    if (this.isVisible) {
      this.model.setLive(document.visibilityState === 'visible');
    }
  };

  private render(): void {
    if (!this.isVisible) {
      return;
    }
    const state = this.model.state;
    const { pollSeconds } = this.model.intervals;
    this.footer.textContent = `Live while this panel is shown; read every ${pollSeconds} s while it is hidden (Settings › Jupyter Hybrid: GPU).`;
    this.renderNotices();
    if (state === null) {
      this.message.textContent = this.model.error ?? 'Loading…';
      return;
    }
    if (!state.available) {
      this.message.textContent = `No GPU: ${state.reason ?? 'unknown reason'}`;
      this.message.classList.add('jp-GpuPanel-unavailable');
      this.processes.hidden = true;
      this.cards.hidden = true;
      return;
    }
    this.message.classList.remove('jp-GpuPanel-unavailable');
    this.message.textContent = this.model.error ?? '';
    this.cards.hidden = false;
    this.processes.hidden = false;
    const seen = new Set<string>();
    for (const gpu of state.gpus) {
      seen.add(gpu.id);
      let card = this.cardById.get(gpu.id);
      if (!card) {
        card = new GpuCard(this.cards, gpu);
        this.cardById.set(gpu.id, card);
      }
      card.update(gpu, this.model.series[gpu.id] ?? {});
    }
    for (const [id, card] of this.cardById) {
      if (!seen.has(id)) {
        card.dispose();
        this.cardById.delete(id);
      }
    }
    this.renderProcesses(state.processes);
  }

  private renderNotices(): void {
    const notices = this.model.notices;
    this.notices.textContent = '';
    if (notices.length > 1) {
      const bar = document.createElement('div');
      bar.className = 'jp-GpuPanel-noticesBar';
      const count = document.createElement('span');
      count.textContent = `${notices.length} notices`;
      const all = document.createElement('button');
      all.className =
        'jp-Button jp-mod-styled jp-mod-reject jp-GpuPanel-dismissAll';
      all.textContent = 'Dismiss all';
      all.onclick = () => void this.model.dismiss();
      bar.append(count, all);
      this.notices.append(bar);
    }
    for (const n of notices) {
      const div = document.createElement('div');
      div.className = `jp-GpuPanel-notice jp-mod-${n.level}`;
      div.dataset.id = n.id;
      const text = document.createElement('span');
      text.className = 'jp-GpuPanel-noticeText';
      text.textContent = n.message;
      const meta = document.createElement('span');
      meta.className = 'jp-GpuPanel-noticeMeta';
      meta.textContent = `${n.source}, ${new Date(n.time * 1000).toLocaleTimeString()}`;
      text.append(meta);
      const close = labButton({
        icon: closeIcon,
        title: 'Dismiss this notice',
        className: 'jp-GpuPanel-dismiss',
        onClick: () => void this.model.dismiss(n.id)
      });
      div.append(text, close);
      this.notices.append(div);
    }
  }

  private renderProcesses(rows: IGpuProcess[]): void {
    this.table.textContent = '';
    const head = this.table.createTHead().insertRow();
    for (const label of ['GPU', 'Notebook / process', 'PID', 'Memory']) {
      const th = document.createElement('th');
      th.textContent = label;
      head.append(th);
    }
    const body = this.table.createTBody();
    if (rows.length === 0) {
      const td = body.insertRow().insertCell();
      td.colSpan = 4;
      td.textContent = 'No process is using a GPU.';
      return;
    }
    for (const row of rows) {
      const tr = body.insertRow();
      tr.dataset.kind = row.kind;
      tr.insertCell().textContent = row.gpu;
      const name = tr.insertCell();
      const label = document.createElement('div');
      label.textContent = row.label;
      name.append(label);
      name.title = row.kernel_id
        ? `kernel ${row.kernel_id} (${row.kernel_name ?? ''})`
        : row.visible
          ? 'not a kernel of this server'
          : 'pid not visible here (another PID namespace)';
      tr.insertCell().textContent = String(row.pid);
      tr.insertCell().textContent =
        row.used_memory === null ? 'n/a' : formatBytes(row.used_memory);
      if (row.kernel_id) {
        const actions = document.createElement('div');
        actions.className = 'jp-GpuPanel-actions';
        name.append(actions);
        const icons = { interrupt: stopIcon, restart: refreshIcon };
        for (const action of ['interrupt', 'restart', 'shut down'] as const) {
          actions.append(
            labButton({
              label: action,
              icon: action === 'shut down' ? closeIcon : icons[action],
              title: `${action} the kernel of ${row.label}`,
              className: 'jp-GpuPanel-action',
              onClick: () => void this.kernelAction(row, action)
            })
          );
        }
      }
    }
  }

  private async kernelAction(
    row: IGpuProcess,
    action: 'interrupt' | 'restart' | 'shut down'
  ): Promise<void> {
    const id = row.kernel_id as string;
    const result = await showDialog({
      title: `${action[0].toUpperCase()}${action.slice(1)} kernel?`,
      body: `${action} the kernel of ${row.label} (it holds ${formatBytes(row.used_memory ?? 0)} of GPU ${row.gpu}).`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: action })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      if (action === 'interrupt') {
        await KernelAPI.interruptKernel(id, this.settings);
      } else if (action === 'restart') {
        await KernelAPI.restartKernel(id, this.settings);
      } else {
        await KernelAPI.shutdownKernel(id, this.settings);
      }
      this.onKernelsChanged();
    } catch (error) {
      await showDialog({
        title: `Could not ${action} the kernel`,
        body: (error as Error).message,
        buttons: [Dialog.okButton()]
      });
    }
  }

  private notices: HTMLDivElement;
  private footer: HTMLParagraphElement;
  private message: HTMLParagraphElement;
  private cards: HTMLDivElement;
  private processes: HTMLDivElement;
  private table: HTMLTableElement;
  private cardById = new Map<string, GpuCard>();
}
