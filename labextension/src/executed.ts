/** Executed notebooks of a run, opened in JupyterLab. */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { IDocumentManager } from '@jupyterlab/docmanager';

import type { BodyworkApi } from './api';

/** Make executed notebooks openable (called once, at activation). */
export function registerExecuted(
  _app: JupyterFrontEnd,
  _docManager: IDocumentManager,
  _api: BodyworkApi
): (runId: string, stage: string) => void {
  return () => undefined;
}
