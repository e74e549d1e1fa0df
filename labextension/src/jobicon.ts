import { LabIcon } from '@jupyterlab/ui-components';

const JOBS_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">' +
  '<path class="jp-icon3" fill="#616161" d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16zm-1 3v6l5 3 1-1.7-4-2.3V7z"/>' +
  '</svg>';

/** The Jobs panel, the "Publish as job" button and the jobs settings. */
export const jobsIcon = new LabIcon({
  name: 'jupyter-hybrid:jobs',
  svgstr: JOBS_SVG
});
