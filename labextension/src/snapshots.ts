import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { KernelSpec, ServerConnection } from '@jupyterlab/services';
import {
  deleteIcon,
  downloadIcon,
  LabIcon,
  refreshIcon,
  runIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { APIError, requestAPI } from './request';
import { labButton, labSelect } from './ui';

/** A snapshot as listed by GET /jupyter-hybrid/snapshots. */
export interface ISnapshotSummary {
  id: string;
  short_id: string;
  name: string | null;
  note: string | null;
  owner: string;
  shared: boolean;
  created_at: string;
  python: string | null;
  packages: number;
}

/** POST /jupyter-hybrid/snapshots answers the snapshot and its record. */
interface ICaptured extends Omit<ISnapshotSummary, 'packages'> {
  packages: unknown[];
  /** The name this user had given the same environment before (null: a new snapshot). */
  identical_to: string | null;
}

/** A package a restore would install from a URL or a repository. */
interface ISource {
  name: string;
  version: string;
  source: string;
}

interface ITask {
  status: 'running' | 'done' | 'failed';
  progress: string[];
  error: string | null;
  result: {
    kernel_name: string;
    display_name: string;
    diff_text: string;
  } | null;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/**
 * The "Snapshots" side panel: capture a kernel's environment, list, diff, export, restore.
 */
export class SnapshotsPanel extends Widget {
  constructor(
    private settings: ServerConnection.ISettings,
    private kernelspecs: KernelSpec.IManager,
    /** From the settings (schema/panel.json). */
    public taskPollSeconds: number
  ) {
    super();
    this.id = 'jupyter-hybrid-snapshots';
    this.addClass('jp-HybridSnapshots');
    this.title.label = 'Snapshots';
    this.title.caption =
      'Environment snapshots: capture, diff, export, restore';
    // the kernelspecs may arrive after the panel is first shown
    kernelspecs.specsChanged.connect(() => this.fillKernels());

    this.kernelSelect = el('select', {
      className: 'jp-HybridSnapshots-kernel'
    });
    this.nameInput = el('input', {
      className: 'jp-mod-styled jp-HybridSnapshots-name',
      placeholder: 'name (optional)'
    });
    const capture = el('button', {
      className:
        'jp-Button jp-mod-styled jp-mod-accept jp-HybridSnapshots-capture',
      textContent: 'Capture',
      onclick: () => void this.capture()
    });
    this.diffButton = el('button', {
      className: 'jp-Button jp-mod-styled jp-HybridSnapshots-diff',
      textContent: 'Diff selected',
      disabled: true,
      onclick: () => void this.diffSelected()
    });
    this.status = el('p', { className: 'jp-HybridSnapshots-status' });
    this.list = el('ul', { className: 'jp-HybridSnapshots-list' });
    this.output = el('pre', { className: 'jp-HybridSnapshots-output' });
    this.node.append(
      el(
        'div',
        { className: 'jp-HybridPanel-header' },
        el('h2', { textContent: 'Snapshots' }),
        labButton({
          icon: refreshIcon,
          title: 'Refresh the list of snapshots',
          onClick: () => void this.refresh()
        })
      ),
      el(
        'div',
        { className: 'jp-HybridSnapshots-form' },
        el(
          'label',
          { className: 'jp-HybridSnapshots-label' },
          'Kernel',
          labSelect(this.kernelSelect, 'jp-HybridSnapshots-kernelSelect')
        ),
        this.nameInput,
        capture
      ),
      this.status,
      this.list,
      this.diffButton,
      this.output
    );
  }

  protected onAfterShow(): void {
    this.fillKernels();
    void this.refresh();
  }

  private fillKernels(): void {
    const specs = this.kernelspecs.specs;
    const current = this.kernelSelect.value;
    this.kernelSelect.textContent = '';
    for (const [name, spec] of Object.entries(specs?.kernelspecs ?? {})) {
      this.kernelSelect.append(
        el('option', {
          value: name,
          textContent:
            (spec as KernelSpec.ISpecModel | undefined)?.display_name ?? name
        })
      );
    }
    if (current) {
      this.kernelSelect.value = current;
    }
  }

  private say(
    text: string,
    error = false,
    action?: { label: string; onClick: () => void }
  ): void {
    this.status.textContent = text;
    this.status.classList.toggle('jp-mod-error', error);
    if (action) {
      this.status.append(
        ' ',
        el('button', {
          className: 'jp-Button jp-mod-styled jp-HybridSnapshots-statusAction',
          textContent: action.label,
          onclick: action.onClick
        })
      );
    }
  }

  /** Reload the list of snapshots. */
  async refresh(): Promise<void> {
    try {
      const data = await requestAPI<{ snapshots: ISnapshotSummary[] }>(
        this.settings,
        'snapshots'
      );
      this.render(data.snapshots);
    } catch (error) {
      this.say(`Could not list snapshots: ${(error as Error).message}`, true);
    }
  }

  private render(snapshots: ISnapshotSummary[]): void {
    this.list.textContent = '';
    if (snapshots.length === 0) {
      this.list.append(
        el('li', {
          className: 'jp-HybridSnapshots-empty',
          textContent: 'No snapshot yet.'
        })
      );
    }
    for (const s of snapshots) {
      const check = el('input', { type: 'checkbox', value: s.id });
      check.onchange = () => this.updateDiffButton();
      const meta = [
        `Python ${s.python ?? '?'}`,
        `${s.packages} packages`,
        ...(s.shared ? [`shared by ${s.owner}`] : [])
      ].join(' · ');
      const button = (
        label: string,
        icon: LabIcon,
        title: string,
        onClick: () => void
      ) => labButton({ label, icon, title, onClick });
      const actions = el(
        'div',
        { className: 'jp-HybridSnapshots-actions' },
        button('binder.zip', downloadIcon, 'Download a Binder folder', () =>
          this.download(s, 'binder')
        ),
        button(
          'requirements.txt',
          downloadIcon,
          'Download pinned requirements',
          () => this.download(s, 'requirements')
        ),
        button('Restore', runIcon, 'Restore as a new kernel', () =>
          this.restore(s)
        ),
        button('Delete', deleteIcon, 'Delete this snapshot', () =>
          this.remove(s)
        )
      );
      const item = el(
        'li',
        { className: 'jp-HybridSnapshots-item' },
        el(
          'label',
          { className: 'jp-HybridSnapshots-itemHead' },
          check,
          el('span', {
            className: 'jp-HybridSnapshots-itemName',
            textContent: s.name ?? '(no name)'
          }),
          el('code', { textContent: s.short_id })
        ),
        el('div', {
          className: 'jp-HybridSnapshots-itemMeta',
          textContent: meta
        }),
        actions
      );
      item.dataset.id = s.id;
      this.list.append(item);
    }
    this.updateDiffButton();
  }

  private selected(): string[] {
    return Array.from(
      this.list.querySelectorAll<HTMLInputElement>(
        'input[type=checkbox]:checked'
      )
    ).map(c => c.value);
  }

  private updateDiffButton(): void {
    this.diffButton.disabled = !this.canDiff;
  }

  /**
   * Capture an environment: a kernelspec's, a notebook's kernel's (``notebook`` is its path), or
   * by default the kernel chosen in the panel.
   */
  async capture(
    target: { kernel?: string; notebook?: string } = {}
  ): Promise<void> {
    const kernel = target.notebook
      ? null
      : target.kernel || this.kernelSelect.value;
    if (!kernel && !target.notebook) {
      this.say('Choose a kernel to capture.', true);
      return;
    }
    this.say(
      target.notebook
        ? `Capturing the environment of ${target.notebook}'s kernel…`
        : `Capturing the environment of kernel ${kernel}…`
    );
    const name = this.nameInput.value || null;
    const body = {
      ...(target.notebook ? { notebook: target.notebook } : { kernel }),
      name
    };
    try {
      const snap = await this.post(body);
      if (snap.identical_to === null) {
        this.say(
          `Captured ${snap.short_id} (${snap.packages.length} packages).`
        );
      } else if (name && name !== snap.name) {
        // the user's first name for this environment is kept unless they choose to rename it
        this.say(
          `Identical to the existing snapshot '${snap.identical_to}' (${snap.short_id}): kept its name.`,
          false,
          {
            label: `Rename to '${name}'`,
            onClick: () => void this.rename(body, snap.identical_to as string)
          }
        );
      } else {
        this.say(
          `Identical to the existing snapshot '${snap.identical_to}' (${snap.short_id}).`
        );
      }
      await this.refresh();
    } catch (error) {
      this.say(`Capture failed: ${(error as Error).message}`, true);
    }
  }

  private post(body: Record<string, unknown>): Promise<ICaptured> {
    return requestAPI<ICaptured>(this.settings, 'snapshots', {
      method: 'POST',
      body: JSON.stringify(body)
    });
  }

  /** Capture again with ``rename``: the existing snapshot takes the new name. */
  private async rename(
    body: Record<string, unknown>,
    before: string
  ): Promise<void> {
    this.say(`Renaming '${before}'…`);
    try {
      const snap = await this.post({ ...body, rename: true });
      this.say(`Renamed '${before}' to '${snap.name}' (${snap.short_id}).`);
      await this.refresh();
    } catch (error) {
      this.say(`Rename failed: ${(error as Error).message}`, true);
    }
  }

  /** Two snapshots are ticked: "Diff selected" can run. */
  get canDiff(): boolean {
    return this.selected().length === 2;
  }

  /** Diff the two ticked snapshots, older to newer. */
  async diffSelected(): Promise<void> {
    // the list is newest first: diff from the older snapshot to the newer one
    const [newer, older] = this.selected();
    try {
      const data = await requestAPI<{ text: string }>(
        this.settings,
        `snapshots/${older}/diff/${newer}`
      );
      this.output.textContent = data.text || 'No difference.';
    } catch (error) {
      this.say(`Diff failed: ${(error as Error).message}`, true);
    }
  }

  private async download(s: ISnapshotSummary, format: string): Promise<void> {
    const url = `${this.settings.baseUrl}jupyter-hybrid/snapshots/${s.id}/export?format=${format}`;
    const response = await ServerConnection.makeRequest(url, {}, this.settings);
    if (!response.ok) {
      this.say(
        `Export failed: ${response.status} ${await response.text()}`,
        true
      );
      return;
    }
    const blob = await response.blob();
    const link = el('a', {
      href: URL.createObjectURL(blob),
      download:
        format === 'binder'
          ? `binder-${s.short_id}.zip`
          : `requirements-${s.short_id}.txt`
    });
    document.body.append(link);
    link.click();
    link.remove();
  }

  private async remove(s: ISnapshotSummary): Promise<void> {
    const answer = await showDialog({
      title: 'Delete snapshot',
      body: `Delete snapshot ${s.short_id}? (A snapshot pinned by a job or an API cannot be deleted.)`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await requestAPI(this.settings, `snapshots/${s.id}`, {
        method: 'DELETE'
      });
      await this.refresh();
    } catch (error) {
      this.say(`Delete failed: ${(error as Error).message}`, true);
    }
  }

  private async restore(s: ISnapshotSummary): Promise<void> {
    const answer = await InputDialog.getText({
      title: `Restore snapshot ${s.short_id} as a new kernel`,
      label: 'Kernel name',
      text: `snapshot-${s.short_id.slice(0, 8)}`
    });
    if (!answer.button.accept || !answer.value) {
      return;
    }
    await this.startRestore(s, answer.value, false);
  }

  /**
   * POST the restore. Another user's snapshot that installs from url:/vcs: sources is answered
   * 409 ``needs_trust``: list the sources, and retry with ``trust_sources`` once confirmed.
   */
  private async startRestore(
    s: ISnapshotSummary,
    name: string,
    trust: boolean
  ): Promise<void> {
    try {
      const { task } = await requestAPI<{ task: string }>(
        this.settings,
        `snapshots/${s.id}/restore`,
        {
          method: 'POST',
          body: JSON.stringify({
            name,
            ...(trust ? { trust_sources: true } : {})
          })
        }
      );
      await this.follow(task);
    } catch (error) {
      const data = error instanceof APIError ? error.data : null;
      if (!trust && data?.needs_trust) {
        if (await this.confirmSources(s, data)) {
          await this.startRestore(s, name, true);
        } else {
          this.say(
            `Restore of ${s.short_id} cancelled: its sources were not trusted.`
          );
        }
        return;
      }
      this.say(`Restore failed: ${(error as Error).message}`, true);
    }
  }

  private async confirmSources(
    s: ISnapshotSummary,
    data: { message: string; sources: ISource[] }
  ): Promise<boolean> {
    const body = el(
      'div',
      { className: 'jp-HybridSnapshots-trust' },
      el('p', {
        textContent: `${s.owner}'s snapshot ${s.short_id} installs these packages from URLs or repositories, not from a package index. Their code runs on this server when they are installed.`
      }),
      el(
        'ul',
        { className: 'jp-HybridSnapshots-sources' },
        ...data.sources.map(src =>
          el(
            'li',
            {},
            el('strong', { textContent: `${src.name} ${src.version}` }),
            ' from ',
            el('code', { textContent: src.source.replace(/^(url|vcs):/, '') })
          )
        )
      ),
      el('p', { textContent: 'Restore only if you trust these sources.' })
    );
    const answer = await showDialog({
      title: 'Install from these sources?',
      body: new Widget({ node: body }),
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: 'Trust and restore' })
      ]
    });
    return answer.button.accept;
  }

  /** Poll a restore task, showing pip's progress, until it ends. */
  private async follow(task: string): Promise<void> {
    for (;;) {
      const t = await requestAPI<ITask>(
        this.settings,
        `snapshots/tasks/${task}`
      );
      this.output.textContent = t.progress.slice(-15).join('\n');
      if (t.status === 'failed') {
        this.say(`Restore failed: ${t.error}`, true);
        return;
      }
      if (t.status === 'done' && t.result) {
        this.say(`Restored as kernel "${t.result.display_name}".`);
        this.output.textContent =
          t.result.diff_text || 'Restored exactly: no difference.';
        await this.kernelspecs.refreshSpecs();
        this.fillKernels();
        return;
      }
      this.say('Restoring… (installing the pinned packages)');
      await new Promise(resolve =>
        setTimeout(resolve, this.taskPollSeconds * 1000)
      );
    }
  }

  private kernelSelect: HTMLSelectElement;
  private nameInput: HTMLInputElement;
  private diffButton: HTMLButtonElement;
  private status: HTMLParagraphElement;
  private list: HTMLUListElement;
  private output: HTMLPreElement;
}
