import { Dialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

/**
 * A JupyterLab dialog whose accept button submits: the dialog stays open (the body shows the
 * server's message) until `submit` says it is done. Cancel and Escape close it as usual.
 */
class SubmitDialog extends Dialog<void> {
  constructor(
    options: Partial<Dialog.IOptions<void>>,
    private submit: () => Promise<boolean>,
    private acceptIndex: number
  ) {
    super(options);
  }

  resolve(index?: number): void {
    const chosen = index ?? this.acceptIndex;
    if (chosen !== this.acceptIndex || this.busy) {
      if (!this.busy) {
        super.resolve(chosen);
      }
      return;
    }
    this.busy = true;
    this.node.classList.add('jp-HybridJobs-busy');
    this.submit()
      .then(done => {
        if (done) {
          super.resolve(chosen);
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.busy = false;
        this.node.classList.remove('jp-HybridJobs-busy');
      });
  }

  private busy = false;
}

/** Show `body` with Cancel and `accept`; resolves true once `submit` succeeded, false if cancelled. */
export async function showSubmitDialog(options: {
  title: string;
  body: Widget;
  accept: string;
  submit: () => Promise<boolean>;
}): Promise<boolean> {
  const buttons = [
    Dialog.cancelButton(),
    Dialog.okButton({ label: options.accept })
  ];
  const dialog = new SubmitDialog(
    {
      title: options.title,
      body: options.body,
      buttons,
      defaultButton: 1
    },
    options.submit,
    1
  );
  dialog.addClass('jp-HybridJobs-dialog');
  const result = await dialog.launch();
  return result.button.accept;
}
