import { closeIcon } from '@jupyterlab/ui-components';

import { el } from './dom';
import { ILogEvent, JobsAPI } from './jobsApi';
import { labButton } from './ui';

/** Most characters the view keeps (the start of a long log is dropped, not the end). */
const MAX_CHARS = 200_000;

/**
 * A run's live log: polls GET runs/{id}/log?offset=N every `pollSeconds`, shows "cell N of M"
 * and stdout/stderr as they come, and stops once the run is done.
 */
export class RunLog {
  constructor(
    private api: JobsAPI,
    private pollSeconds: () => number,
    private onDone: (runId: number) => void
  ) {
    this.title = el('span', { className: 'jp-HybridJobs-logTitle' });
    this.progress = el('span', { className: 'jp-HybridJobs-logProgress' });
    this.text = el('pre', { className: 'jp-HybridJobs-logText' });
    this.node = el(
      'div',
      { className: 'jp-HybridJobs-log' },
      el(
        'div',
        { className: 'jp-HybridJobs-logHead' },
        this.title,
        this.progress,
        labButton({
          icon: closeIcon,
          title: 'Close the log',
          onClick: () => this.close()
        })
      ),
      this.text
    );
    this.node.hidden = true;
  }

  /** The run shown, or null. */
  get runId(): number | null {
    return this.run;
  }

  /** Follow run `id` from its start. */
  follow(id: number, job: string): void {
    this.stop();
    this.run = id;
    this.offset = 0;
    this.cell = '';
    this.text.textContent = '';
    this.chars = 0;
    this.title.textContent = `Run ${id} of ${job}`;
    this.progress.textContent = 'waiting for the log…';
    this.node.hidden = false;
    this.node.dataset.run = String(id);
    delete this.node.dataset.done;
    const generation = ++this.generation;
    void this.poll(generation);
  }

  close(): void {
    this.stop();
    this.run = null;
    this.node.hidden = true;
  }

  /** Stop polling (the panel is hidden or disposed); the text stays. */
  stop(): void {
    this.generation++;
    window.clearTimeout(this.timer);
  }

  private async poll(generation: number): Promise<void> {
    const id = this.run;
    if (id === null || generation !== this.generation) {
      return;
    }
    let done = false;
    try {
      const log = await this.api.log(id, this.offset);
      if (generation !== this.generation) {
        return;
      }
      this.offset = log.offset;
      this.show(log.events, log.text);
      done = log.done;
      if (done) {
        const status = (log as any).status ?? 'ended';
        this.progress.textContent = `${status}${this.cell ? ` · ${this.cell}` : ''}`;
        this.node.dataset.done = status;
      }
    } catch (error) {
      this.progress.textContent = `Could not read the log: ${(error as Error).message}`;
    }
    if (done) {
      this.onDone(id);
      return;
    }
    this.timer = window.setTimeout(
      () => void this.poll(generation),
      Math.max(0.2, this.pollSeconds()) * 1000
    );
  }

  /** One event as the server renders it (`jobs/events.py` render), kept apart by kind. */
  private static line(e: ILogEvent): [string, string] {
    switch (e.kind) {
      case 'cell':
        return [`--- cell ${e.index} of ${e.cells} ---\n`, 'cell'];
      case 'stream':
        return [e.text ?? '', e.name === 'stderr' ? 'stderr' : 'stdout'];
      case 'start':
        return [`--- run started: ${e.cells ?? '?'} cells ---\n`, 'cell'];
      case 'end':
        return [`--- run ${e.status ?? 'ended'} ---\n`, 'cell'];
      default:
        return ['', ''];
    }
  }

  private show(events: ILogEvent[], text: string): void {
    for (const e of events) {
      if (e.kind === 'cell' && e.index !== undefined) {
        this.cell = `cell ${e.index} of ${e.cells ?? '?'}`;
      }
    }
    if (this.cell) {
      this.progress.textContent = this.cell;
    } else if (events.length > 0) {
      this.progress.textContent = 'started';
    }
    const pieces: [string, string][] =
      events.length > 0 ? events.map(RunLog.line) : [[text, 'stdout']];
    const pinned =
      this.text.scrollTop + this.text.clientHeight >=
      this.text.scrollHeight - 4;
    for (const [chunk, kind] of pieces) {
      if (chunk) {
        this.text.append(
          el('span', {
            className: `jp-HybridJobs-log-${kind}`,
            textContent: chunk
          })
        );
        this.chars += chunk.length;
      }
    }
    while (this.chars > MAX_CHARS && this.text.firstChild) {
      this.chars -= this.text.firstChild.textContent?.length ?? 0;
      this.text.firstChild.remove();
    }
    if (pinned) {
      this.text.scrollTop = this.text.scrollHeight;
    }
  }

  readonly node: HTMLDivElement;
  private title: HTMLSpanElement;
  private progress: HTMLSpanElement;
  private text: HTMLPreElement;
  private run: number | null = null;
  private offset = 0;
  private cell = '';
  private chars = 0;
  private timer = 0;
  private generation = 0;
}
