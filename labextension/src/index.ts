/**
 * The bodywork-jupyter JupyterLab extension: the Bodywork panel in the left sidebar, the
 * "Open Bodywork panel" command (palette and launcher). It follows the file browser's
 * folder, and checks it again when its bodywork.yaml (or any file in it) changes.
 */

import {
  ILayoutRestorer,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';

import { BodyworkApi } from './api';
import { bodyworkIcon } from './icon';
import { PanelModel } from './model';
import { openAt } from './open';
import { BodyworkPanel, PANEL_ID } from './panel';

export const OPEN_PANEL = 'bodywork:open-panel';

/** How long to wait after a file change before checking again (saves come in bursts). */
const SETTLE_MS = 400;

const plugin: JupyterFrontEndPlugin<void> = {
  id: '@bodywork-jupyter/labextension:panel',
  description: 'The Bodywork panel: the pipeline of the current folder, its DAG and problems.',
  autoStart: true,
  requires: [IDocumentManager, IDefaultFileBrowser],
  optional: [ICommandPalette, ILauncher, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    fileBrowser: IDefaultFileBrowser,
    palette: ICommandPalette | null,
    launcher: ILauncher | null,
    restorer: ILayoutRestorer | null
  ) => {
    const contents = app.serviceManager.contents;
    const model = new PanelModel(new BodyworkApi(app.serviceManager.serverSettings), contents);
    const panel = new BodyworkPanel(model, {
      open: (path, line) => {
        openAt(docManager, path, line).catch(error =>
          showErrorMessage(`Could not open ${path}`, error)
        );
      }
    });
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, PANEL_ID);

    const folder = () => contents.localPath(fileBrowser.model.path);
    panel.showFolder(folder());
    fileBrowser.model.pathChanged.connect(() => panel.showFolder(folder()));

    let timer: number | undefined;
    contents.fileChanged.connect((_, change) => {
      const paths = [change.oldValue?.path, change.newValue?.path];
      if (paths.some(path => path && model.concerns(contents.localPath(path)))) {
        window.clearTimeout(timer);
        timer = window.setTimeout(() => panel.check(), SETTLE_MS);
      }
    });

    app.commands.addCommand(OPEN_PANEL, {
      label: args => (args.isPalette ? 'Open Bodywork panel' : 'Bodywork panel'),
      caption: 'Show the pipeline of the current folder: its DAG, its problems, its git state',
      icon: args => (args.isPalette ? undefined : bodyworkIcon),
      execute: () => {
        app.shell.activateById(PANEL_ID);
      }
    });
    palette?.addItem({ command: OPEN_PANEL, category: 'Bodywork', args: { isPalette: true } });
    launcher?.add({ command: OPEN_PANEL, category: 'Other', rank: 1 });
  }
};

export default plugin;
