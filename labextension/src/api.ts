/**
 * The bodywork REST API (bodywork_jupyter/server, openapi.yaml), called with the Jupyter
 * server's own settings: its base URL, token and XSRF cookie, as every JupyterLab request.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { Dag } from './dag';
import type { GitInfo } from './gitline';
import type { Problem, Validation } from './problems';

/** Every endpoint is under this path (bodywork_jupyter/server/base.py: API). */
export const API = 'bodywork/api';

/** An answer other than 2xx: the API's `{"error", "problems"}` (openapi.yaml: Error). */
export class BodyworkApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems: Problem[] = []
  ) {
    super(message);
    this.name = 'BodyworkApiError';
  }
}

export class BodyworkApi {
  constructor(private readonly settings = ServerConnection.makeSettings()) {}

  /** `GET pipeline/validate?path=DIR`: always 200, with every problem. */
  validate(folder: string): Promise<Validation> {
    return this.get<Validation>('pipeline/validate', { path: folder });
  }

  /** `GET pipeline/dag?path=DIR`: 400 with problems when bodywork.yaml is not valid. */
  dag(folder: string): Promise<Dag> {
    return this.get<Dag>('pipeline/dag', { path: folder });
  }

  /** `GET git?path=DIR`: the repository around the folder (is_repo false outside git). */
  git(folder: string): Promise<GitInfo> {
    return this.get<GitInfo>('git', { path: folder });
  }

  async get<T>(endpoint: string, query: Record<string, string> = {}): Promise<T> {
    const url =
      URLExt.join(this.settings.baseUrl, API, endpoint) + URLExt.objectToQueryString(query);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, { method: 'GET' }, this.settings);
    } catch (error) {
      throw new BodyworkApiError(0, `the Jupyter server could not be reached: ${error}`);
    }
    const text = await response.text();
    let data: unknown = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) {
      const body = (data ?? {}) as { error?: string; problems?: Problem[] };
      throw new BodyworkApiError(
        response.status,
        body.error ?? `${response.status} ${response.statusText}`,
        body.problems ?? []
      );
    }
    return data as T;
  }
}
