/**
 * The history's endpoint that api.ts does not have yet: `POST runs/{run_id}/rerun`
 * (openapi.yaml). Kept apart so api.ts stays one file others read; it can move there.
 */

import { type BodyworkApi, type RunDetail, type Where, whereQuery } from './api';

/** `POST runs/{id}/rerun` (201): the run's plan and options submitted again, as a new run. */
export function rerun(api: BodyworkApi, runId: string, where?: Where): Promise<RunDetail> {
  return api.request<RunDetail>(
    'POST',
    `runs/${encodeURIComponent(runId)}/rerun`,
    whereQuery(where)
  );
}
