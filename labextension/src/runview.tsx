/** The run followed, live: per-stage status, attempts, elapsed time, the log, URLs. */


import type { LiveRunModel } from './liverun';

export function LiveRunView(_props: { run: LiveRunModel }): JSX.Element | null {
  return null;
}
