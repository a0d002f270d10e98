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
import type { PanelServices } from './context';
import { registerExecuted } from './executed';
import { GenerateModel } from './generate';
import { HistoryModel } from './history';
import { bodyworkIcon } from './icon';
import { LiveRunModel } from './liverun';
import { PanelModel } from './model';
import { openAt } from './open';
import { BodyworkPanel, PANEL_ID } from './panel';
import { tagPlugin } from './tagplugin';

export const OPEN_PANEL = 'bodywork:open-panel';

/** How long to wait after a file change before checking again (saves come in bursts). */
const SETTLE_MS = 400;

const panelPlugin: JupyterFrontEndPlugin<void> = {
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
    const api = new BodyworkApi(app.serviceManager.serverSettings);
    const model = new PanelModel(api);
    const folder = () => contents.localPath(fileBrowser.model.path);
    const openExecuted = registerExecuted(app, docManager, api);
    let panel: BodyworkPanel;
    const services: PanelServices = {
      api,
      folder,
      open: (path, line) => {
        openAt(docManager, path, line).catch(error =>
          showErrorMessage(`Could not open ${path}`, error)
        );
      },
      openExecuted,
      recheck: () => panel.check()
    };
    const run = new LiveRunModel(services);
    const history = new HistoryModel(services, run);
    const generate = new GenerateModel(services);
    panel = new BodyworkPanel(model, { services, generate, run, history });
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, PANEL_ID);

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

export default [panelPlugin, tagPlugin];
