import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

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

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-hybrid:panel',
  description:
    'Shows the hardware tier, site and environment this server runs with.',
  autoStart: true,
  requires: [ILabShell],
  activate: (app: JupyterFrontEnd, shell: ILabShell) => {
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

export default plugin;
