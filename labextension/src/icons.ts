import { LabIcon } from '@jupyterlab/ui-components';

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
