import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { GpuPanel } from './gpu';
import { GpuModel, IGpuIntervals } from './gpumodel';
import { GpuStatus } from './gpustatus';
import { gpuIcon, hybridIcon, snapshotIcon } from './icons';
import { jobsIcon } from './jobicon';
import { jobsPlugin } from './jobsplugin';
import { HybridPanel } from './panel';
import { SnapshotsPanel } from './snapshots';

export { gpuIcon, hybridIcon, jobsIcon, snapshotIcon };

/** The palette category of every command: a search for "hybrid" finds them all. */
const CATEGORY = 'Jupyter Hybrid';

export namespace CommandIDs {
  export const openPanel = 'jupyter-hybrid:open-panel';
  export const refreshPanel = 'jupyter-hybrid:refresh-panel';
  export const openSnapshots = 'jupyter-hybrid:open-snapshots';
  export const captureSnapshot = 'jupyter-hybrid:capture-snapshot';
  export const refreshSnapshots = 'jupyter-hybrid:refresh-snapshots';
  export const diffSnapshots = 'jupyter-hybrid:diff-snapshots';
  export const openGpu = 'jupyter-hybrid:open-gpu';
  export const refreshGpu = 'jupyter-hybrid:refresh-gpu';
  export const dismissGpuNotices = 'jupyter-hybrid:dismiss-gpu-notices';
}

/** Add commands, and to the palette when there is one (JupyterLab and Notebook 7 both have it). */
function addCommands(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  commands: Record<string, Parameters<typeof app.commands.addCommand>[1]>
): void {
  for (const [id, options] of Object.entries(commands)) {
    app.commands.addCommand(id, options);
    palette?.addItem({ command: id, category: CATEGORY });
  }
}

/** The path of the notebook in the main area, if one is current (for "capture this notebook"). */
function currentNotebookPath(app: JupyterFrontEnd): string | null {
  const path = (app.shell.currentWidget as any)?.context?.path;
  return typeof path === 'string' && path.endsWith('.ipynb') ? path : null;
}

const gpuPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-hybrid:gpu',
  description:
    'GPU panel (live charts, memory by notebook, culler notices) and status-bar item.',
  autoStart: true,
  requires: [ISettingRegistry],
  optional: [IStatusBar, ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    // app.shell, not ILabShell: Jupyter Notebook 7 has its own shell with left and right areas
    const shell = app.shell;
    const settings = await registry.load(gpuPlugin.id);
    const intervals = () => settings.composite as unknown as IGpuIntervals;
    const server = app.serviceManager.serverSettings;
    const model = new GpuModel(server, intervals());
    settings.changed.connect(() => (model.intervals = intervals()));
    const panel = new GpuPanel(model, server, () => {
      void app.serviceManager.kernels.refreshRunning();
    });
    panel.title.icon = gpuIcon;
    shell.add(panel, 'left', { rank: 902 });
    addCommands(app, palette, {
      [CommandIDs.openGpu]: {
        label: 'Show GPU Panel',
        caption: 'Live GPU metrics, GPU memory by notebook, culler notices',
        icon: gpuIcon,
        execute: () => shell.activateById(panel.id)
      },
      [CommandIDs.refreshGpu]: {
        label: 'Refresh GPU State',
        caption: "Read this server's GPUs and their processes now",
        execute: () => model.refresh()
      },
      [CommandIDs.dismissGpuNotices]: {
        label: 'Dismiss All GPU Notices',
        caption: "Dismiss the GPU culler's and the admins' notices",
        isEnabled: () => model.notices.length > 0,
        execute: () => model.dismiss()
      }
    });
    if (!panel.isVisible) {
      model.setLive(false); // the status bar polls slowly until the panel is shown
    }
    if (statusBar) {
      const item = new GpuStatus(model, () => shell.activateById(panel.id));
      statusBar.registerStatusItem('jupyter-hybrid:gpu-status', {
        item,
        align: 'left',
        rank: 5,
        isActive: () => item.active,
        activeStateChanged: item.activeChanged
      });
    }
  }
};

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-hybrid:panel',
  description:
    'Shows the hardware tier, site and environment this server runs with, and its environment snapshots.',
  autoStart: true,
  requires: [ISettingRegistry],
  optional: [ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    registry: ISettingRegistry,
    palette: ICommandPalette | null
  ) => {
    const shell = app.shell;
    const settings = await registry.load(plugin.id);
    const taskPollSeconds = () => settings.composite.taskPollSeconds as number;
    const panel = new HybridPanel(app.serviceManager.serverSettings);
    panel.title.icon = hybridIcon;
    shell.add(panel, 'left', { rank: 900 });

    const snapshots = new SnapshotsPanel(
      app.serviceManager.serverSettings,
      app.serviceManager.kernelspecs,
      taskPollSeconds()
    );
    settings.changed.connect(
      () => (snapshots.taskPollSeconds = taskPollSeconds())
    );
    snapshots.title.icon = snapshotIcon;
    shell.add(snapshots, 'left', { rank: 901 });

    addCommands(app, palette, {
      [CommandIDs.openPanel]: {
        label: 'Show Hybrid Panel',
        caption:
          'The hardware tier, site and environment this server runs with',
        icon: hybridIcon,
        execute: () => shell.activateById(panel.id)
      },
      [CommandIDs.refreshPanel]: {
        label: 'Refresh Hybrid Panel',
        caption: "Read this server's tier, site and limits again",
        execute: () => {
          shell.activateById(panel.id);
          return panel.refresh();
        }
      },
      [CommandIDs.openSnapshots]: {
        label: 'Show Environment Snapshots',
        caption: 'Capture, diff, export and restore environment snapshots',
        icon: snapshotIcon,
        execute: () => shell.activateById(snapshots.id)
      },
      [CommandIDs.captureSnapshot]: {
        label: args =>
          args.kernel
            ? `Capture Environment Snapshot of Kernel ${args.kernel}`
            : currentNotebookPath(app)
              ? 'Capture Environment Snapshot of This Notebook'
              : 'Capture Environment Snapshot',
        caption:
          "Snapshot the packages of a kernel's environment (the current notebook's kernel, or the kernel chosen in the Snapshots panel)",
        execute: args => {
          shell.activateById(snapshots.id);
          const kernel = args.kernel as string | undefined;
          const notebook = kernel ? undefined : currentNotebookPath(app);
          return snapshots.capture({ kernel, notebook: notebook ?? undefined });
        }
      },
      [CommandIDs.refreshSnapshots]: {
        label: 'Refresh Snapshot List',
        execute: () => {
          shell.activateById(snapshots.id);
          return snapshots.refresh();
        }
      },
      [CommandIDs.diffSnapshots]: {
        label: 'Diff the Two Selected Snapshots',
        caption: 'Tick two snapshots in the Snapshots panel first',
        isEnabled: () => snapshots.canDiff,
        execute: () => snapshots.diffSelected()
      }
    });
  }
};

export default [plugin, gpuPlugin, jobsPlugin];
