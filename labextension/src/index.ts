import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { GpuPanel } from './gpu';
import { GpuModel } from './gpumodel';
import { GpuStatus } from './gpustatus';

import { HybridPanel } from './panel';
import { SnapshotsPanel } from './snapshots';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM16.5 13l3.5 3.5-3.5 3.5-3.5-3.5z"/>' +
  '</svg>';

export const hybridIcon = new LabIcon({
  name: 'jupyter-hybrid:icon',
  svgstr: ICON_SVG
});

const SNAPSHOT_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M9 3 7.2 5H4a2 2 0 0 0-2 2v12a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2h-3.2L15 3zm3 5a5 5 0 1 1 0 10 5 5 0 0 1 0-10z"/>' +
  '</svg>';

export const snapshotIcon = new LabIcon({
  name: 'jupyter-hybrid:snapshot',
  svgstr: SNAPSHOT_SVG
});

const GPU_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M2 7h20v10H2zm3 2v6h6V9zm9 0v2h6V9zm0 4v2h6v-2zM5 18h2v2H5zm4 0h2v2H9zm4 0h2v2h-2z"/>' +
  '</svg>';

export const gpuIcon = new LabIcon({
  name: 'jupyter-hybrid:gpu',
  svgstr: GPU_SVG
});

const gpuPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-hybrid:gpu',
  description:
    'GPU panel (live charts, memory by notebook, culler notices) and status-bar item.',
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null) => {
    // app.shell, not ILabShell: Jupyter Notebook 7 has its own shell with left and right areas
    const shell = app.shell;
    const settings = app.serviceManager.serverSettings;
    const model = new GpuModel(settings);
    const panel = new GpuPanel(model, settings, () => {
      void app.serviceManager.kernels.refreshRunning();
    });
    panel.title.icon = gpuIcon;
    shell.add(panel, 'left', { rank: 902 });
    app.commands.addCommand('jupyter-hybrid:open-gpu', {
      label: 'Show GPU panel',
      execute: () => shell.activateById(panel.id)
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
    'Shows the hardware tier, site and environment this server runs with.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    const shell = app.shell;
    const panel = new HybridPanel(app.serviceManager.serverSettings);
    panel.title.icon = hybridIcon;
    shell.add(panel, 'left', { rank: 900 });
    app.commands.addCommand('jupyter-hybrid:open-panel', {
      label: 'Show Hybrid panel',
      execute: () => shell.activateById(panel.id)
    });

    const snapshots = new SnapshotsPanel(
      app.serviceManager.serverSettings,
      app.serviceManager.kernelspecs
    );
    snapshots.title.icon = snapshotIcon;
    shell.add(snapshots, 'left', { rank: 901 });
    app.commands.addCommand('jupyter-hybrid:open-snapshots', {
      label: 'Show environment snapshots',
      execute: () => shell.activateById(snapshots.id)
    });
  }
};

export default [plugin, gpuPlugin];
