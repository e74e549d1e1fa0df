import {
  closeIcon,
  downloadIcon,
  launchIcon,
  LabIcon,
  listIcon,
  notebookIcon,
  refreshIcon
} from '@jupyterlab/ui-components';

import { el } from './dom';
import {
  duration,
  IRun,
  isFinished,
  localTime,
  parameterText
} from './jobsApi';
import { labButton } from './ui';

/** What a run's buttons do (the Jobs panel implements them). */
export interface IRunActions {
  log(run: IRun): void;
  open(run: IRun): void;
  openHtml(run: IRun): void;
  download(run: IRun, format: 'ipynb' | 'html'): void;
  again(run: IRun): void;
  cancel(run: IRun): void;
}

/** A status as a small badge: completed, failed, running… (colours from the theme). */
export function statusBadge(status: string): HTMLSpanElement {
  const badge = el('span', {
    className: `jp-HybridJobs-badge jp-HybridJobs-status-${status}`,
    textContent: status
  });
  badge.dataset.status = status;
  return badge;
}

/** 'ZeroDivisionError: division by zero (cell 3)' and the message, when there is one. */
export function errorText(run: IRun): string {
  const e = run.error;
  if (!e) {
    return '';
  }
  const head = [e.ename, e.evalue].filter(Boolean).join(': ');
  const where =
    e.cell !== undefined && e.cell !== null ? ` (cell ${e.cell})` : '';
  const parts = [head ? `${head}${where}` : where.trim()];
  if (e.message && e.message !== head) {
    parts.push(e.message);
  }
  return parts.filter(Boolean).join(' — ');
}

function row(label: string, value: string, field: string): HTMLElement {
  const node = el(
    'div',
    { className: 'jp-HybridJobs-runRow' },
    el('span', { className: 'jp-HybridJobs-runKey', textContent: label }),
    el('span', { className: 'jp-HybridJobs-runValue', textContent: value })
  );
  node.dataset.field = field;
  return node;
}

/** One run of a job: status, start, duration, parameters, tier/site, snapshot, error, actions. */
export function runItem(
  run: IRun,
  actions: IRunActions,
  following: boolean
): HTMLLIElement {
  const finished = isFinished(run);
  const head = el(
    'div',
    { className: 'jp-HybridJobs-runHead' },
    statusBadge(run.status),
    el('span', {
      className: 'jp-HybridJobs-runId',
      textContent: `Run ${run.id}`
    }),
    el('span', {
      className: 'jp-HybridJobs-runWhen',
      textContent: localTime(run.started_at ?? run.queued_at)
    })
  );
  const details: HTMLElement[] = [];
  const add = (label: string, value: string, field: string) => {
    if (value) {
      details.push(row(label, value, field));
    }
  };
  add('Duration', duration(run.duration), 'duration');
  add(
    'Trigger',
    `${run.trigger}${run.attempt > 1 ? `, attempt ${run.attempt}` : ''} · version ${run.version}`,
    'trigger'
  );
  add('Parameters', parameterText(run.parameters), 'parameters');
  add(
    'Where',
    [run.tier, run.site && `on ${run.site}`].filter(Boolean).join(' '),
    'where'
  );
  add('Environment', run.environment ?? '', 'environment');
  add(
    'Snapshot',
    run.snapshot_id ? run.snapshot_id.slice(0, 12) : '',
    'snapshot'
  );
  add('Waiting', run.waiting ?? '', 'waiting');
  const error = errorText(run);
  if (error) {
    const node = el('div', {
      className: 'jp-HybridJobs-runError',
      textContent: error
    });
    if (run.error?.traceback) {
      node.title = run.error.traceback;
    }
    details.push(node);
  }
  const button = (
    label: string,
    icon: LabIcon,
    title: string,
    onClick: () => void,
    action: string
  ) => {
    const b = labButton({ label, icon, title, onClick });
    b.dataset.action = action;
    return b;
  };
  const bar = el('div', { className: 'jp-HybridJobs-actions' });
  bar.append(
    button(
      'Log',
      listIcon,
      'Show the live log of this run',
      () => actions.log(run),
      'log'
    )
  );
  if (run.has_output) {
    bar.append(
      button(
        'Open',
        notebookIcon,
        'Open the output notebook read-only',
        () => actions.open(run),
        'open'
      ),
      button(
        'HTML',
        launchIcon,
        'Open the output as HTML in a new browser tab',
        () => actions.openHtml(run),
        'html'
      ),
      button(
        'ipynb',
        downloadIcon,
        'Download the output notebook',
        () => actions.download(run, 'ipynb'),
        'download-ipynb'
      ),
      button(
        'html',
        downloadIcon,
        'Download the output as HTML',
        () => actions.download(run, 'html'),
        'download-html'
      )
    );
  }
  if (finished) {
    bar.append(
      button(
        'Run again',
        refreshIcon,
        'Run again with these parameters',
        () => actions.again(run),
        'again'
      )
    );
  } else {
    bar.append(
      button(
        'Cancel',
        closeIcon,
        'Cancel this run',
        () => actions.cancel(run),
        'cancel'
      )
    );
  }
  const item = el(
    'li',
    {
      className: `jp-HybridJobs-run${following ? ' jp-mod-selected' : ''}`
    },
    head,
    ...details,
    bar
  );
  item.dataset.run = String(run.id);
  item.dataset.status = run.status;
  return item;
}
