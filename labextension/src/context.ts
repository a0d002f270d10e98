/**
 * What the panel's views share: the API and the few things only the extension's
 * activation can do (open a file, open an executed notebook, check the folder again).
 * index.ts builds one; every view gets it from its model.
 */

import type { BodyworkApi } from './api';

export interface PanelServices {
  readonly api: BodyworkApi;
  /** The folder the panel shows, relative to the server's root ('' is the root). */
  folder(): string;
  /** Open a file under the root; ``line`` is 0-based, null for none. */
  open(path: string, line: number | null): void;
  /** Open a run's executed notebook of ``stage`` in JupyterLab (read-only). */
  openExecuted(runId: string, stage: string): void;
  /** Check the folder again (after a tag or a generate changed it from the server side). */
  recheck(): void;
}
