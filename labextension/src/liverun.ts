/** One run followed live: its stages' status (server-sent events), logs and URLs. */

import { VDomModel } from '@jupyterlab/ui-components';

import type { StageStatus } from './api';
import type { PanelServices } from './context';

export class LiveRunModel extends VDomModel {
  /** The run followed (null: none yet). */
  runId: string | null = null;
  /** Each stage's latest status, by name (the DAG's colours). */
  stages = new Map<string, StageStatus>();

  constructor(readonly services: PanelServices) {
    super();
  }

  /** The stages' status when the followed run is one of ``pipeline``'s, else undefined. */
  stagesOf(_pipeline: string): ReadonlyMap<string, StageStatus> | undefined {
    return undefined;
  }

  /** Follow ``runId`` from now on (the one before is let go). */
  follow(runId: string): void {
    this.runId = runId;
    this.stateChanged.emit(void 0);
  }
}
