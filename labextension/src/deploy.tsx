/** The Deploy button (panel toolbar) and its dialog: target, parameters, max-parallel. */


import type { HistoryModel } from './history';
import type { LiveRunModel } from './liverun';
import type { PanelModel } from './model';

export interface DeployButtonProps {
  model: PanelModel;
  run: LiveRunModel;
  history: HistoryModel;
}

export function DeployButton(_props: DeployButtonProps): JSX.Element | null {
  return null;
}
