import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  ICommandPalette,
  IToolbarWidgetRegistry,
  showErrorMessage
} from '@jupyterlab/apputils';
import { ToolbarButton } from '@jupyterlab/ui-components';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Widget } from '@lumino/widgets';

import { jobsIcon } from './jobicon';
import { noKernelForOutputs, OUTPUT_DRIVE, OutputDrive } from './joboutput';
import { IJobsIntervals, JobsPanel } from './jobs';
import { JobsAPI } from './jobsApi';
import { publishNotebook } from './publish';

export namespace JobCommandIDs {
  export const publish = 'jupyter-hybrid:publish-job';
  export const publishFile = 'jupyter-hybrid:publish-job-file';
  export const openJobs = 'jupyter-hybrid:open-jobs';
  export const refreshJobs = 'jupyter-hybrid:refresh-jobs';
}

const CATEGORY = 'Jupyter Hybrid';

/** The notebook in the main area, if one is current (its context, to save it first). */
function currentNotebook(app: JupyterFrontEnd): any | null {
  const context = (app.shell.currentWidget as any)?.context;
  const path = context?.path;
  return typeof path === 'string' &&
    path.endsWith('.ipynb') &&
    !path.includes(':')
    ? context
    : null;
}

/** The notebook selected in the file browser (the item right-clicked), if it is one. */
function selectedNotebook(browser: IDefaultFileBrowser | null): string | null {
  if (!browser) {
    return null;
  }
  for (const item of browser.selectedItems()) {
    if (item.type === 'notebook' || item.path.endsWith('.ipynb')) {
      return item.path;
    }
  }
  return null;
}

/**
 * Scheduled jobs: the "Publish as job" dialog (notebook toolbar, file browser context menu,
 * palette) and the Jobs panel. The toolbar button and the context-menu item are declared in
 * schema/jobs.json ("jupyter.lab.toolbars", "jupyter.lab.menus").
 */
export const jobsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-hybrid:jobs',
  description:
    'Publish notebooks as scheduled jobs; the Jobs panel: runs, live logs, outputs.',
  autoStart: true,
  requires: [ISettingRegistry],
  optional: [ICommandPalette, IDefaultFileBrowser, IToolbarWidgetRegistry],
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null,
    toolbars: IToolbarWidgetRegistry | null
  ) => {
    // app.shell, not ILabShell: Jupyter Notebook 7 has its own shell with a left area
    const shell = app.shell;
    // the notebook toolbar's button publishes the notebook it belongs to (not the current one),
    // registered before anything is awaited: toolbars made before it would get the command
    // button of schema/jobs.json instead
    toolbars?.addFactory('Notebook', 'publish-job', (notebook: any) => {
      if (String(notebook.context.path).startsWith(`${OUTPUT_DRIVE}:`)) {
        return new Widget(); // a run's output: nothing to publish
      }
      const button = new ToolbarButton({
        icon: jobsIcon,
        label: 'Publish as job',
        tooltip: 'Publish this notebook as a scheduled job (cron or once, now)',
        onClick: () => void publish(notebook.context.path, notebook.context)
      });
      button.node.dataset.command = JobCommandIDs.publish;
      return button;
    });
    const api = new JobsAPI(app.serviceManager.serverSettings);
    app.serviceManager.contents.addDrive(new OutputDrive(api));
    noKernelForOutputs(app);
    const settings = await registry.load(jobsPlugin.id);
    const intervals = () => settings.composite as unknown as IJobsIntervals;

    const publish = async (path: string | null, context?: any) => {
      if (!path) {
        await showErrorMessage(
          'Publish notebook as job',
          'Open a notebook, or select one in the file browser, to publish it as a job.'
        );
        return;
      }
      if (context?.model?.dirty) {
        await context.save(); // the server publishes the notebook as saved
      }
      const job = await publishNotebook(api, path);
      if (job) {
        shell.activateById(panel.id);
        await panel.select(job.name, job.schedule === 'once');
      }
    };
    const publishCurrent = () => {
      const shown = (app.shell.currentWidget as any)?.context?.path ?? '';
      if (shown.startsWith(`${OUTPUT_DRIVE}:`)) {
        return showErrorMessage(
          'Publish notebook as job',
          "This is a run's output (read-only): publish the notebook it came from."
        ).then(() => undefined);
      }
      const context = currentNotebook(app);
      return publish(context?.path ?? selectedNotebook(browser), context);
    };

    const panel = new JobsPanel(app, api, intervals(), publishCurrent);
    settings.changed.connect(() => (panel.intervals = intervals()));
    panel.title.icon = jobsIcon;
    shell.add(panel, 'left', { rank: 903 });

    const commands: Record<
      string,
      Parameters<typeof app.commands.addCommand>[1]
    > = {
      [JobCommandIDs.publish]: {
        label: args =>
          args.toolbar ? 'Publish as job' : 'Publish notebook as job',
        caption:
          'Publish this notebook as a scheduled job (cron or once, now), with its parameters',
        icon: jobsIcon,
        execute: args =>
          typeof args.path === 'string' ? publish(args.path) : publishCurrent()
      },
      [JobCommandIDs.openJobs]: {
        label: 'Open Jobs',
        caption: 'Published jobs, their runs, live logs and outputs',
        icon: jobsIcon,
        execute: () => shell.activateById(panel.id)
      },
      [JobCommandIDs.refreshJobs]: {
        label: 'Refresh Jobs',
        caption: 'Read the jobs and their runs again',
        execute: () => {
          shell.activateById(panel.id);
          return panel.refresh();
        }
      }
    }; // palette entries
    for (const [id, options] of Object.entries(commands)) {
      app.commands.addCommand(id, options);
      palette?.addItem({ command: id, category: CATEGORY });
    }
    // the file browser's context menu (not in the palette: it needs a right-clicked notebook)
    app.commands.addCommand(JobCommandIDs.publishFile, {
      label: 'Publish as Job…',
      caption: 'Publish this notebook as a scheduled job',
      icon: jobsIcon,
      isVisible: () => selectedNotebook(browser) !== null,
      execute: () => publish(selectedNotebook(browser))
    });
  }
};
