/**
 * Executed notebooks of a run, opened in JupyterLab, read-only, without writing anything
 * into the user's folders: a Contents drive, BodyworkRuns, whose files are the runs'
 * executed notebooks (GET runs/{id}/notebooks/{stage}); it refuses every change. They open
 * as `BodyworkRuns:RUN/STAGE.ipynb` in JupyterLab's notebook viewer, with no kernel.
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { showErrorMessage } from '@jupyterlab/apputils';
import type { IDocumentManager } from '@jupyterlab/docmanager';
import type { Contents, ServerConnection } from '@jupyterlab/services';

import { type BodyworkApi, encodePath } from './api';
import {
  EXECUTED_DRIVE,
  executedPath,
  folderModel,
  notebookModel,
  parseExecutedPath,
  READ_ONLY_MESSAGE
} from './runexecuted';

/** The drive: read-only, its listing empty (it is opened by path, never browsed). */
export class ExecutedDrive implements Contents.IDrive {
  readonly name = EXECUTED_DRIVE;
  readonly serverSettings: ServerConnection.ISettings;
  /** Its files never change (a run's record is final): nothing is ever emitted. */
  readonly fileChanged: Contents.IDrive['fileChanged'] = {
    connect: () => true,
    disconnect: () => true
  };
  private disposed = false;

  constructor(private readonly api: BodyworkApi) {
    this.serverSettings = api.settings;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    this.disposed = true;
  }

  async get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const entry = parseExecutedPath(localPath);
    const withContent = options?.content !== false;
    switch (entry.kind) {
      case 'root':
      case 'run':
        return folderModel(localPath, withContent);
      case 'notebook': {
        const content = withContent ? await this.api.notebook(entry.runId, entry.stage) : null;
        return notebookModel(localPath, content, new Date().toISOString());
      }
      default:
        throw new Error(`${EXECUTED_DRIVE}:${localPath} is no executed notebook (RUN/STAGE.ipynb)`);
    }
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    const entry = parseExecutedPath(localPath);
    if (entry.kind !== 'notebook') {
      throw new Error(`${EXECUTED_DRIVE}:${localPath} is no executed notebook`);
    }
    // the API's own URL: the session cookie authenticates the download
    return this.api.url(`runs/${encodePath(entry.runId)}/notebooks/${encodePath(entry.stage)}`);
  }

  newUntitled(): Promise<Contents.IModel> {
    return refuse();
  }

  delete(): Promise<void> {
    return refuse();
  }

  rename(): Promise<Contents.IModel> {
    return refuse();
  }

  save(): Promise<Contents.IModel> {
    return refuse();
  }

  copy(): Promise<Contents.IModel> {
    return refuse();
  }

  createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return refuse();
  }

  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  restoreCheckpoint(): Promise<void> {
    return refuse();
  }

  deleteCheckpoint(): Promise<void> {
    return refuse();
  }
}

function refuse<T>(): Promise<T> {
  return Promise.reject(new Error(READ_ONLY_MESSAGE));
}

/** Make executed notebooks openable (called once, at activation); returns the opener. */
export function registerExecuted(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  api: BodyworkApi
): (runId: string, stage: string) => void {
  app.serviceManager.contents.addDrive(new ExecutedDrive(api));
  whenNotebookFactory(app, factory => {
    // every executed notebook's tab, also one JupyterLab restores after a reload: a record
    // to read, so no kernel starts for it and none can be picked
    factory.widgetCreated.connect((_, widget) => {
      const session = widget.context.sessionContext;
      if (app.serviceManager.contents.driveName(widget.context.path) !== EXECUTED_DRIVE) {
        return;
      }
      session.kernelPreference = { ...session.kernelPreference, ...NO_KERNEL };
      tolerateWidgetsBug(session.ready);
    });
  });
  return (runId: string, stage: string) => {
    const path = executedPath(runId, stage);
    const widget = docManager.openOrReveal(path, NOTEBOOK_FACTORY, undefined, undefined, NO_KERNEL);
    if (!widget) {
      void showErrorMessage(
        'Could not open the executed notebook',
        `JupyterLab has no notebook viewer for ${path}`
      );
    }
  };
}

const NOTEBOOK_FACTORY = 'Notebook';
const NO_KERNEL = { shouldStart: false, canStart: false };

type WidgetFactory = NonNullable<ReturnType<JupyterFrontEnd['docRegistry']['getWidgetFactory']>>;

/** ``use`` JupyterLab's notebook widget factory, now or once its plugin registered it. */
function whenNotebookFactory(app: JupyterFrontEnd, use: (factory: WidgetFactory) => void): void {
  const registry = app.docRegistry;
  const found = registry.getWidgetFactory(NOTEBOOK_FACTORY);
  if (found) {
    use(found);
    return;
  }
  const changed = () => {
    const factory = registry.getWidgetFactory(NOTEBOOK_FACTORY);
    if (factory) {
      registry.changed.disconnect(changed);
      use(factory);
    }
  };
  registry.changed.connect(changed);
}

/**
 * ipywidgets' JupyterLab manager (8.1) reads `sessionContext.session.kernel` of every
 * notebook that opens, and a notebook without a kernel makes it throw, unhandled
 * ("Cannot read properties of null (reading 'kernel')", jupyter-widgets/ipywidgets#3970).
 * Harmless (there are no widgets to manage), but it is an error in the console: while an
 * executed notebook opens, that one rejection, and only it, is marked handled.
 */
function tolerateWidgetsBug(ready: Promise<void>): void {
  const handled = (event: PromiseRejectionEvent) => {
    const reason: unknown = event.reason;
    if (reason instanceof TypeError && reason.message.includes("(reading 'kernel')")) {
      event.preventDefault();
    }
  };
  window.addEventListener('unhandledrejection', handled);
  const stop = () =>
    window.setTimeout(() => window.removeEventListener('unhandledrejection', handled), 5000);
  ready.then(stop, stop);
}
