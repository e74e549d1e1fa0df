import { JupyterFrontEnd } from '@jupyterlab/application';
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import { JobsAPI } from './jobsApi';

/** The drive run outputs open from: `JobOutput:<run id>/<job name>.ipynb`, read-only. */
export const OUTPUT_DRIVE = 'JobOutput';

function readOnly(): never {
  throw new Error(
    'A run output is read-only: download it to keep a copy you can edit.'
  );
}

/**
 * A read-only contents drive over GET runs/{id}/output?format=ipynb, so an output notebook opens
 * as a real notebook document (rendered outputs, "Read-only" in its toolbar, no kernel started)
 * without being copied into the user's files.
 */
export class OutputDrive implements Contents.IDrive {
  constructor(private api: JobsAPI) {}

  readonly name = OUTPUT_DRIVE;

  get serverSettings(): ServerConnection.ISettings {
    return this.api.settings;
  }

  get fileChanged(): ISignal<this, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  private static runId(path: string): number {
    const id = Number(path.split('/')[0]);
    if (!Number.isInteger(id) || id < 0) {
      throw new Error(`not a run output: ${path}`);
    }
    return id;
  }

  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const now = new Date().toISOString();
    const base = {
      name: localPath.split('/').pop() ?? localPath,
      path: localPath,
      created: now,
      last_modified: now,
      writable: false,
      mimetype: 'application/x-ipynb+json',
      format: 'json' as Contents.FileFormat
    };
    if (!localPath.endsWith('.ipynb')) {
      return {
        ...base,
        type: 'directory',
        content: options?.content === false ? null : [],
        mimetype: '',
        format: 'json'
      };
    }
    const id = OutputDrive.runId(localPath);
    if (options?.content === false) {
      return { ...base, type: 'notebook', content: null };
    }
    const response = await this.api.output(id, 'ipynb');
    const nb = await response.json();
    // cells locked as well: the notebook reads as what the run produced
    for (const cell of nb.cells ?? []) {
      cell.metadata = { ...(cell.metadata ?? {}), editable: false };
    }
    return { ...base, type: 'notebook', content: nb };
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    return this.api.outputUrl(OutputDrive.runId(localPath), 'ipynb');
  }

  newUntitled(): Promise<Contents.IModel> {
    return readOnly();
  }

  delete(): Promise<void> {
    return readOnly();
  }

  rename(): Promise<Contents.IModel> {
    return readOnly();
  }

  save(): Promise<Contents.IModel> {
    return readOnly();
  }

  copy(): Promise<Contents.IModel> {
    return readOnly();
  }

  async createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return { id: 'output', last_modified: new Date().toISOString() };
  }

  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  restoreCheckpoint(): Promise<void> {
    return readOnly();
  }

  deleteCheckpoint(): Promise<void> {
    return readOnly();
  }

  private _fileChanged = new Signal<this, Contents.IChangedArgs>(this);
  private _disposed = false;
}

/**
 * Run outputs never start a kernel, however they are opened (a command, or the layout restorer
 * reopening one after a reload): the preference is set as the notebook widget is created, before
 * its session starts.
 */
export function noKernelForOutputs(app: JupyterFrontEnd): void {
  app.docRegistry.addWidgetExtension('Notebook', {
    createNew: (widget: any, context: any) => {
      if (String(context.path).startsWith(`${OUTPUT_DRIVE}:`)) {
        const session = context.sessionContext;
        session.kernelPreference = {
          ...session.kernelPreference,
          shouldStart: false,
          canStart: false,
          shouldReuse: false,
          autoStartDefault: false
        };
      }
    }
  });
}

/** A file name fit for a path: 'daily report' -> 'daily report', 'a/b' -> 'a_b'. */
function fileName(job: string): string {
  return job.replace(/[/\\:]/g, '_');
}

/**
 * Open a run's output notebook read-only in a new document (no kernel: see noKernelForOutputs).
 * Returns false when the notebook could not be opened in this front end.
 */
export async function openOutput(
  app: JupyterFrontEnd,
  runId: number,
  job: string
): Promise<boolean> {
  const path = `${OUTPUT_DRIVE}:${runId}/${fileName(job)} (run ${runId}).ipynb`;
  const widget = await app.commands.execute('docmanager:open', {
    path,
    factory: 'Notebook'
  });
  return !!widget;
}

/**
 * Open the run's HTML rendering in a new browser tab, straight from the server: its own headers
 * (content security policy) apply there, not this page's origin. Checked first, so a run without
 * output says why here instead of in an empty tab.
 */
export async function openHtml(api: JobsAPI, runId: number): Promise<void> {
  const tab = window.open('', '_blank');
  try {
    await api.run(runId).then(run => {
      if (!run.has_output) {
        throw new Error(`run ${runId} has no output yet (${run.status})`);
      }
    });
    if (tab) {
      tab.opener = null;
      tab.location.href = api.outputUrl(runId, 'html');
    }
  } catch (error) {
    tab?.close();
    throw error;
  }
}

/** Save a run's output (ipynb or HTML) as a download. */
export async function downloadOutput(
  api: JobsAPI,
  runId: number,
  job: string,
  format: 'ipynb' | 'html'
): Promise<void> {
  const response = await api.output(runId, format);
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const named = /filename="([^"]+)"/.exec(disposition);
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = named?.[1] ?? `${fileName(job)}-run-${runId}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}
