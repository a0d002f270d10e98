/** History: the deployments and their runs; cancel, re-run, delete. */

import { VDomModel } from '@jupyterlab/ui-components';

import type { PanelServices } from './context';
import type { LiveRunModel } from './liverun';

export class HistoryModel extends VDomModel {
  constructor(
    readonly services: PanelServices,
    readonly run: LiveRunModel
  ) {
    super();
  }

  /** Read the deployments and runs again. */
  async refresh(): Promise<void> {
    // filled in by the history work
  }
}
