/** Tagging from JupyterLab: a notebook toolbar button opening the stage form. */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';

export const tagPlugin: JupyterFrontEndPlugin<void> = {
  id: '@bodywork-jupyter/labextension:tagging',
  description: 'Tag a notebook as a Bodywork stage from its toolbar.',
  autoStart: true,
  activate: (_app: JupyterFrontEnd) => {
    // filled in by the tagging work
  }
};
