import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import {
  deleteIcon,
  fileUploadIcon,
  pauseIcon,
  refreshIcon,
  runIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { el } from './dom';
import { showSubmitDialog } from './formdialog';
import { downloadOutput, openHtml, openOutput } from './joboutput';
import { IJob, IRun, JobsAPI, localTime } from './jobsApi';
import { ParameterForm } from './params';
import { RunLog } from './runlog';
import { IRunActions, runItem, statusBadge } from './runs';
import { labButton } from './ui';

/** How often the panel and a run's log read the server (schema/jobs.json). */
export interface IJobsIntervals {
  listPollSeconds: number;
  logPollSeconds: number;
}

/**
 * The "Jobs" side panel: published jobs (schedule in words, next run, last status, paused), a
 * job's runs with their actions, and a run's live log.
 */
export class JobsPanel extends Widget implements IRunActions {
  constructor(
    private app: JupyterFrontEnd,
    readonly api: JobsAPI,
    public intervals: IJobsIntervals,
    private publishCurrent: () => Promise<void>
  ) {
    super();
    this.id = 'jupyter-hybrid-jobs';
    this.addClass('jp-HybridJobs');
    this.title.label = 'Jobs';
    this.title.caption = 'Scheduled notebook jobs: runs, live logs, outputs';
    this.status = el('p', { className: 'jp-HybridJobs-status' });
    this.list = el('ul', { className: 'jp-HybridJobs-list' });
    this.detail = el('div', { className: 'jp-HybridJobs-detail' });
    this.logView = new RunLog(
      api,
      () => this.intervals.logPollSeconds,
      () => void this.refresh()
    );
    this.node.append(
      el(
        'div',
        { className: 'jp-HybridPanel-header' },
        el('h2', { textContent: 'Jobs' }),
        el(
          'div',
          {},
          labButton({
            icon: fileUploadIcon,
            title: 'Publish the current notebook as a job',
            onClick: () => void this.publishCurrent()
          }),
          labButton({
            icon: refreshIcon,
            title: 'Refresh the jobs and their runs',
            onClick: () => void this.refresh()
          })
        )
      ),
      this.status,
      this.list,
      this.detail,
      this.logView.node
    );
  }

  protected onAfterShow(): void {
    void this.refresh();
    if (this.logView.runId !== null && this.followJob) {
      this.logView.follow(this.logView.runId, this.followJob);
    }
  }

  protected onAfterHide(): void {
    window.clearTimeout(this.timer);
    this.logView.stop();
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.logView.stop();
    super.dispose();
  }

  private say(text: string, error = false): void {
    this.status.textContent = text;
    this.status.classList.toggle('jp-HybridJobs-error', error);
  }

  /** Select a job (e.g. just published); `follow` shows the log of its newest run. */
  async select(name: string, follow = false): Promise<void> {
    this.selected = name;
    this.followLatest = follow;
    await this.refresh();
  }

  /** Read the jobs (and the selected job's runs) again; repeats while the panel is shown. */
  async refresh(): Promise<void> {
    window.clearTimeout(this.timer);
    try {
      const jobs = await this.api.jobs();
      this.renderJobs(jobs);
      const job = jobs.find(j => j.name === this.selected);
      if (job) {
        const runs = (await this.api.runs(job.name)).sort(
          (a, b) => b.id - a.id
        );
        this.renderDetail(job, runs);
        if (this.followLatest && runs.length > 0) {
          this.followLatest = false;
          this.followRun(runs[0]);
        }
      } else {
        this.selected = null;
        this.detail.textContent = '';
      }
      this.say(
        jobs.length === 0
          ? ''
          : `${jobs.length} job${jobs.length === 1 ? '' : 's'}`
      );
    } catch (error) {
      this.say(`Could not read the jobs: ${(error as Error).message}`, true);
    }
    if (this.isVisible && !this.isDisposed) {
      this.timer = window.setTimeout(
        () => void this.refresh(),
        Math.max(1, this.intervals.listPollSeconds) * 1000
      );
    }
  }

  private renderJobs(jobs: IJob[]): void {
    this.list.textContent = '';
    if (jobs.length === 0) {
      this.list.append(
        el('li', {
          className: 'jp-HybridJobs-empty',
          textContent:
            'No job yet. Publish a notebook: the button on its toolbar, its file menu, or "Publish notebook as job" in the palette.'
        })
      );
    }
    for (const job of jobs) {
      const badges = el('span', { className: 'jp-HybridJobs-badges' });
      if (job.paused) {
        badges.append(
          el('span', {
            className: 'jp-HybridJobs-badge jp-HybridJobs-paused',
            textContent: 'paused'
          })
        );
      }
      if (job.last_run) {
        badges.append(statusBadge(job.last_run.status));
      }
      const next = job.paused
        ? 'paused'
        : job.next_run
          ? `next ${localTime(job.next_run)}`
          : '';
      const item = el(
        'li',
        {
          className: `jp-HybridJobs-job${job.name === this.selected ? ' jp-mod-selected' : ''}`,
          onclick: () => void this.select(job.name)
        },
        el(
          'div',
          { className: 'jp-HybridJobs-jobHead' },
          el('span', {
            className: 'jp-HybridJobs-jobName',
            textContent: job.name
          }),
          badges
        ),
        el('div', {
          className: 'jp-HybridJobs-jobMeta jp-HybridJobs-scheduleText',
          textContent: job.schedule_text
        }),
        el('div', {
          className: 'jp-HybridJobs-jobMeta jp-HybridJobs-next',
          textContent: next
        })
      );
      item.dataset.job = job.name;
      item.title = `${job.notebook} · version ${job.version}`;
      this.list.append(item);
    }
  }

  private renderDetail(job: IJob, runs: IRun[]): void {
    const action = (
      label: string,
      icon: typeof runIcon,
      title: string,
      onClick: () => void,
      name: string
    ) => {
      const b = labButton({ label, icon, title, onClick });
      b.dataset.action = name;
      return b;
    };
    const runList = el('ul', { className: 'jp-HybridJobs-runs' });
    for (const run of runs) {
      runList.append(runItem(run, this, run.id === this.logView.runId));
    }
    if (runs.length === 0) {
      runList.append(
        el('li', {
          className: 'jp-HybridJobs-empty',
          textContent: 'No run yet.'
        })
      );
    }
    this.detail.textContent = '';
    this.detail.dataset.job = job.name;
    this.detail.append(
      el('h3', {
        className: 'jp-HybridJobs-detailName',
        textContent: job.name
      }),
      el('div', {
        className: 'jp-HybridJobs-jobMeta',
        textContent: `${job.notebook} · version ${job.version} · ${[job.tier, job.environment].filter(Boolean).join(', ')}`
      }),
      el(
        'div',
        { className: 'jp-HybridJobs-actions' },
        action(
          'Run now',
          runIcon,
          'Run now, with parameters you may change',
          () => void this.runNow(job),
          'run-now'
        ),
        action(
          job.paused ? 'Resume' : 'Pause',
          job.paused ? runIcon : pauseIcon,
          job.paused
            ? 'Resume the schedule'
            : 'Pause the schedule (runs already queued still run)',
          () => void this.setPaused(job, !job.paused),
          'pause'
        ),
        action(
          'New version',
          fileUploadIcon,
          `Publish ${job.notebook} as it is now as a new version`,
          () => void this.publishVersion(job),
          'new-version'
        ),
        action(
          'Delete',
          deleteIcon,
          'Delete this job',
          () => void this.remove(job),
          'delete'
        )
      ),
      el('h4', { textContent: 'Runs' }),
      runList
    );
  }

  private async act(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.say(`${what} failed: ${(error as Error).message}`, true);
      return;
    }
    await this.refresh();
  }

  private followRun(run: IRun): void {
    this.followJob = run.job;
    this.logView.follow(run.id, run.job);
    this.node.querySelectorAll('.jp-HybridJobs-run').forEach(n => {
      n.classList.toggle(
        'jp-mod-selected',
        n.getAttribute('data-run') === String(run.id)
      );
    });
  }

  private async runNow(job: IJob): Promise<void> {
    let full: IJob;
    try {
      full = await this.api.job(job.name);
    } catch (error) {
      this.say(`Could not read ${job.name}: ${(error as Error).message}`, true);
      return;
    }
    const declared = full.declared ?? {
      parameters: [],
      has_cell: false,
      note: ''
    };
    const form = new ParameterForm(declared, full.parameters);
    const body = new Widget({
      node: el('div', { className: 'jp-HybridJobs-runNow' }, form.node)
    });
    let run: IRun | null = null;
    const ok = await showSubmitDialog({
      title: `Run ${job.name} now`,
      body,
      accept: 'Run',
      submit: async () => {
        const values = form.values();
        if (values === null) {
          return false;
        }
        try {
          run = await this.api.runNow(job.name, values);
          return true;
        } catch (error) {
          if (!form.showError((error as Error).message)) {
            form.showError(`parameters: ${(error as Error).message}`);
          }
          return false;
        }
      }
    });
    if (ok && run) {
      this.followRun(run);
      await this.refresh();
    }
  }

  private setPaused(job: IJob, paused: boolean): Promise<void> {
    return this.act(paused ? 'Pause' : 'Resume', () =>
      this.api.setPaused(job.name, paused)
    );
  }

  private async publishVersion(job: IJob): Promise<void> {
    const answer = await showDialog({
      title: 'Publish new version',
      body: `Freeze ${job.notebook} as it is saved now as version ${job.version + 1} of '${job.name}'? Runs from then on use it.`,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Publish' })]
    });
    if (answer.button.accept) {
      await this.act('Publishing a new version', async () => {
        const { version } = await this.api.publishVersion(job.name);
        Notification.success(`'${job.name}' is now at version ${version}`, {
          autoClose: 5000
        });
      });
    }
  }

  private async remove(job: IJob): Promise<void> {
    const keep = el('input', {
      type: 'radio',
      name: 'jp-HybridJobs-delete',
      value: 'keep',
      checked: true
    });
    const drop = el('input', {
      type: 'radio',
      name: 'jp-HybridJobs-delete',
      value: 'delete'
    });
    const body = el(
      'div',
      { className: 'jp-HybridJobs-deleteBody' },
      el('p', {
        textContent: `Delete the job '${job.name}'? Its queued and running runs are cancelled.`
      }),
      el(
        'label',
        { className: 'jp-HybridJobs-check' },
        keep,
        'Keep its runs (records and output notebooks)'
      ),
      el(
        'label',
        { className: 'jp-HybridJobs-check' },
        drop,
        'Remove its runs and their outputs too'
      )
    );
    const answer = await showDialog({
      title: 'Delete job',
      body: new Widget({ node: body }),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      const runs = drop.checked ? 'delete' : 'keep';
      if (this.followJob === job.name && runs === 'delete') {
        this.logView.close();
      }
      await this.act('Delete', () => this.api.remove(job.name, runs));
    }
  }

  // -- IRunActions ------------------------------------------------------------------------

  log(run: IRun): void {
    this.followRun(run);
  }

  open(run: IRun): void {
    void openOutput(this.app, run.id, run.job).catch(error =>
      this.say(`Could not open the output: ${(error as Error).message}`, true)
    );
  }

  openHtml(run: IRun): void {
    void openHtml(this.api, run.id).catch(error =>
      this.say(`Could not open the HTML: ${(error as Error).message}`, true)
    );
  }

  download(run: IRun, format: 'ipynb' | 'html'): void {
    void downloadOutput(this.api, run.id, run.job, format).catch(error =>
      this.say(`Download failed: ${(error as Error).message}`, true)
    );
  }

  again(run: IRun): void {
    void this.act('Run again', async () =>
      this.followRun(await this.api.again(run.id))
    );
  }

  cancel(run: IRun): void {
    void this.act('Cancel', () => this.api.cancel(run.id));
  }

  private logView: RunLog;
  private status: HTMLParagraphElement;
  private list: HTMLUListElement;
  private detail: HTMLDivElement;
  private selected: string | null = null;
  private followLatest = false;
  private followJob: string | null = null;
  private timer = 0;
}
