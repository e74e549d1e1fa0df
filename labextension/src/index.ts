import {
  ILabShell,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { LabIcon } from '@jupyterlab/ui-components';

import { HybridPanel } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM16.5 13l3.5 3.5-3.5 3.5-3.5-3.5z"/>' +
  '</svg>';

export const hybridIcon = new LabIcon({
  name: 'jupyter-hybrid:icon',
  svgstr: ICON_SVG
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
  }
};

export default plugin;
