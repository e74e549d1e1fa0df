import { ServerConnection } from '@jupyterlab/services';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { requestAPI } from './request';
import { labButton } from './ui';

/** What GET /jupyter-hybrid/info returns. */
export interface IServerInfo {
  under_hub: boolean;
  message: string | null;
  tier: string | null;
  site: string | null;
  environment: string | null;
  user: string | null;
  placement: string | null;
  limits: {
    cpu: number | null;
    memory: number | null;
    gpus: number | null;
  };
}

/** '2147483648' -> '2 GiB' */
export function formatBytes(n: number | null): string {
  if (n === null) {
    return 'no limit';
  }
  const units: [string, number][] = [
    ['TiB', 1024 ** 4],
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024]
  ];
  for (const [unit, size] of units) {
    if (n >= size) {
      return `${parseFloat((n / size).toPrecision(3))} ${unit}`;
    }
  }
  return `${n} B`;
}

/**
 * The "Hybrid" side panel: the tier, site, environment and limits this server runs with.
 */
export class HybridPanel extends Widget {
  constructor(private settings: ServerConnection.ISettings) {
    super();
    this.id = 'jupyter-hybrid-panel';
    this.addClass('jp-HybridPanel');
    this.title.label = 'Hybrid';
    this.title.caption = 'Hybrid panel: tier, site and environment';
    const header = document.createElement('div');
    header.className = 'jp-HybridPanel-header';
    const h2 = document.createElement('h2');
    h2.textContent = 'Hybrid';
    const refresh = labButton({
      icon: refreshIcon,
      title: "Refresh: read this server's tier, site and limits again",
      className: 'jp-HybridPanel-refresh',
      onClick: () => void this.refresh()
    });
    header.append(h2, refresh);
    this.body = document.createElement('div');
    this.body.className = 'jp-HybridPanel-body';
    this.node.append(header, this.body);
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  /** Fetch the server's info and show it. */
  async refresh(): Promise<void> {
    this.body.textContent = 'Loading…';
    try {
      const info = await requestAPI<IServerInfo>(this.settings, 'info');
      this.render(info);
    } catch (error) {
      this.body.textContent = '';
      const p = document.createElement('p');
      p.className = 'jp-HybridPanel-error';
      p.textContent = `Could not read this server's info: ${(error as Error).message}`;
      this.body.append(p);
    }
  }

  private render(info: IServerInfo): void {
    this.body.textContent = '';
    if (!info.under_hub) {
      const p = document.createElement('p');
      p.className = 'jp-HybridPanel-message';
      p.textContent = info.message ?? 'not running under a hub';
      this.body.append(p);
      return;
    }
    const rows: [string, string][] = [
      ['Tier', info.tier ?? ''],
      ['Site', info.site ?? ''],
      ['Environment', info.environment ?? ''],
      [
        'CPU limit',
        info.limits.cpu === null ? 'no limit' : `${info.limits.cpu} cores`
      ],
      ['Memory limit', formatBytes(info.limits.memory)],
      ['GPUs', String(info.limits.gpus ?? 0)]
    ];
    const table = document.createElement('table');
    table.className = 'jp-HybridPanel-table';
    for (const [label, value] of rows) {
      const tr = document.createElement('tr');
      const th = document.createElement('th');
      th.textContent = label;
      const td = document.createElement('td');
      td.textContent = value;
      td.dataset.field = label.toLowerCase().replace(/ /g, '-');
      tr.append(th, td);
      table.append(tr);
    }
    this.body.append(table);
    if (info.placement) {
      const why = document.createElement('p');
      why.className = 'jp-HybridPanel-placement';
      why.textContent = `Why here: ${info.placement}`;
      this.body.append(why);
    }
  }

  private body: HTMLDivElement;
}
