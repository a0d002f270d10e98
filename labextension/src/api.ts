/**
 * The bodywork REST API (bodywork_jupyter/server, openapi.yaml), called with the Jupyter
 * server's own settings: its base URL, token and XSRF cookie, as every JupyterLab request.
 * The types mirror openapi.yaml's schemas; every view reads the API through this class.
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

/** openapi.yaml: Parameter (a notebook's `parameters` cell, one name). */
export interface Parameter {
  name: string;
  type: string;
  default: unknown;
  help: string;
}

/** openapi.yaml: StageTag: `stage` and any bodywork.yaml 2.0 stage field except `path`. */
export interface StageTag {
  stage: string;
  kind?: 'batch' | 'service';
  depends_on?: string[];
  [field: string]: unknown;
}

/** openapi.yaml: StageFile. */
export interface StageFile {
  path: string;
  type: 'notebook' | 'module';
  stage: string | null;
  tag: StageTag | null;
  parameters: Parameter[];
  problems: Problem[];
  changed?: boolean;
}

/** openapi.yaml: Generated. */
export interface Generated {
  config_file: string;
  changed: boolean;
  written: boolean;
  diff: string;
  notices: string[];
  problems: Problem[];
}

/** openapi.yaml: GET targets. */
export interface Target {
  target: string;
  label: string;
  context: string | null;
  namespace: string | null;
  current: boolean;
}

/**
 * Where deployments and runs live: a target and, on a cluster, its kubeconfig context and
 * namespace (the CLI's `--target --context --namespace`; every read and action takes them as
 * `?target=&context=&namespace=`). Left out: this machine.
 */
export interface Where {
  target: string;
  context?: string | null;
  namespace?: string | null;
}

/** The query that names ``where`` (none for this machine: what every call sent before). */
export function whereQuery(where?: Where | null): Record<string, string> {
  const query: Record<string, string> = {};
  if (!where || (where.target === 'local' && !where.context && !where.namespace)) {
    return query;
  }
  query.target = where.target;
  if (where.context) {
    query.context = where.context;
  }
  if (where.namespace) {
    query.namespace = where.namespace;
  }
  return query;
}

/** openapi.yaml: DeployRequest. */
export interface DeployRequest {
  path: string;
  branch?: string | null;
  commit?: string | null;
  target?: string;
  context?: string | null;
  namespace?: string | null;
  image?: string | null;
  /** `{"stage.name": value}` */
  params?: Record<string, unknown>;
  max_parallel?: number;
}

export type RunStatus =
  | 'queued'
  | 'running'
  | 'deployed'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'lost'
  | 'stopped';

export type StageStatusName =
  | 'pending'
  | 'running'
  | 'retrying'
  | 'ready'
  | 'restarting'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'skipped'
  | 'lost'
  | 'stopped';

/** openapi.yaml: Source (where the code comes from; URLs without credentials). */
export type Source = Record<string, unknown>;

/** openapi.yaml: RunSummary. */
export interface RunSummary {
  id: string;
  deployment: string;
  status: RunStatus;
  message: string;
  created: number;
  started: number | null;
  finished: number | null;
  source: Source;
  cancel_requested: boolean;
  /** Who started the run (the Jupyter user for a deploy from the panel; the OS user for one from a terminal); null when not recorded. */
  started_by: string | null;
}

/** openapi.yaml: StageStatus. */
export interface StageStatus {
  name: string;
  kind: 'batch' | 'service';
  status: StageStatusName;
  attempt: number;
  started: number | null;
  finished: number | null;
  duration: number | null;
  message: string;
  url: string | null;
  log: string | null;
  notebook: string | null;
  /** A service's example request body (its `service.example`, else the JSON its notebook passes to `predict`); null: none known. */
  example?: unknown;
}

/** openapi.yaml: RunDetail. */
export interface RunDetail extends RunSummary {
  options: Record<string, unknown>;
  settled: boolean;
  finished_ok: boolean;
  stages: StageStatus[];
  urls: Record<string, string>;
  links: { self: string; events: string; cancel: string };
  /** Only in a deploy's answer. */
  warnings?: string[];
}

/** openapi.yaml: ServingVersion. */
export interface ServingVersion {
  run: string;
  commit: string | null;
  urls: Record<string, string>;
  ingresses: Record<string, string | null>;
}

/** openapi.yaml: Deployment (GET deployments/{name} adds `runs`). */
export interface Deployment {
  name: string;
  pipeline: string;
  target: string;
  status: string;
  source: Source;
  created: number;
  updated: number;
  current_run: string | null;
  run: RunSummary | null;
  serving_run: string | null;
  serving: ServingVersion | null;
  urls: Record<string, string>;
  runs?: RunSummary[];
}

/** openapi.yaml: Event. */
export interface RunEvent {
  seq: number;
  run_id: string;
  time: number;
  type: string;
  stage: string | null;
  attempt: number | null;
  data: Record<string, unknown>;
}

/** openapi.yaml: Events. */
export interface Events {
  run_id: string;
  status: string;
  events: RunEvent[];
  next_after: number;
  finished: boolean;
}

/** openapi.yaml: LogChunk. */
export interface LogChunk {
  run_id: string;
  stage: string;
  attempt: number;
  status: string;
  offset: number;
  next_offset: number;
  eof: boolean;
  finished: boolean;
  text: string;
}

/** POST deployments/{name}/call. */
export interface CallRequest {
  stage?: string | null;
  path?: string;
  body?: unknown;
  timeout?: number;
}

export interface CallResult {
  stage: string;
  url: string;
  status: number;
  text: string;
  json?: unknown;
  truncated?: boolean;
}

/** A notebook as nbformat 4 JSON. */
export interface NotebookJson {
  cells: unknown[];
  metadata?: Record<string, unknown>;
  nbformat?: number;
  nbformat_minor?: number;
}

const enc = encodeURIComponent;

export class BodyworkApi {
  constructor(readonly settings = ServerConnection.makeSettings()) {}

  // -- pipeline ------------------------------------------------------------------------

  /** `GET pipeline/validate?path=DIR`: always 200, with every problem. */
  validate(folder: string): Promise<Validation> {
    return this.get<Validation>('pipeline/validate', { path: folder });
  }

  /** `GET pipeline/dag?path=DIR`: 400 with problems when bodywork.yaml is not valid. */
  dag(folder: string): Promise<Dag> {
    return this.get<Dag>('pipeline/dag', { path: folder });
  }

  /** `POST pipeline/generate`: write bodywork.yaml from the tags (check: only report). */
  generate(folder: string, check = false): Promise<Generated> {
    return this.request<Generated>('POST', 'pipeline/generate', {}, { folder, check });
  }

  /** `GET git?path=DIR`: the repository around the folder (is_repo false outside git). */
  git(folder: string): Promise<GitInfo> {
    return this.get<GitInfo>('git', { path: folder });
  }

  // -- stages (tags) -------------------------------------------------------------------

  /** `GET stages?path=DIR`: the folder's notebooks and modules with their tags. */
  async stages(folder: string, tagged = false): Promise<StageFile[]> {
    const query: Record<string, string> = { path: folder };
    if (tagged) {
      query.tagged = 'true';
    }
    const answer = await this.get<{ stages: StageFile[] }>('stages', query);
    return answer.stages;
  }

  /** `GET stages/{path}`: one file's tag and parameters. */
  stage(path: string): Promise<StageFile> {
    return this.get<StageFile>(`stages/${encodePath(path)}`);
  }

  /** `PUT stages/{path}`: set the file's tag (only its metadata is written). */
  setTag(path: string, tag: StageTag): Promise<StageFile> {
    return this.request<StageFile>('PUT', `stages/${encodePath(path)}`, {}, tag);
  }

  /** `DELETE stages/{path}`: remove the file's tag. */
  removeTag(path: string): Promise<StageFile> {
    return this.request<StageFile>('DELETE', `stages/${encodePath(path)}`);
  }

  // -- deployments ---------------------------------------------------------------------

  /** `GET targets`: this machine, then each kubeconfig context. */
  async targets(): Promise<Target[]> {
    return (await this.get<{ targets: Target[] }>('targets')).targets;
  }

  /** `GET deployments` (all: the deleted ones too). */
  async deployments(all = false, where?: Where): Promise<Deployment[]> {
    const answer = await this.get<{ deployments: Deployment[] }>('deployments', {
      ...(all ? { all: 'true' } : {}),
      ...whereQuery(where)
    });
    return answer.deployments;
  }

  /** `GET deployments/{name}`: with its last 20 runs. */
  deployment(name: string, where?: Where): Promise<Deployment> {
    return this.get<Deployment>(`deployments/${enc(name)}`, whereQuery(where));
  }

  /** `POST deployments`: the run is queued and handed to a supervisor (201). */
  deploy(request: DeployRequest): Promise<RunDetail> {
    return this.request<RunDetail>('POST', 'deployments', {}, request);
  }

  /** `DELETE deployments/{name}`: stop its services (its history is kept). */
  deleteDeployment(name: string, where?: Where): Promise<Deployment> {
    return this.request<Deployment>('DELETE', `deployments/${enc(name)}`, whereQuery(where));
  }

  /** `POST deployments/{name}/call`: try one of its services, from the server. */
  call(name: string, request: CallRequest, where?: Where): Promise<CallResult> {
    return this.request<CallResult>(
      'POST',
      `deployments/${enc(name)}/call`,
      whereQuery(where),
      request
    );
  }

  // -- runs ----------------------------------------------------------------------------

  /** `GET runs`, newest first. */
  async runs(deployment?: string, limit = 50, where?: Where): Promise<RunSummary[]> {
    const query: Record<string, string> = { limit: String(limit), ...whereQuery(where) };
    if (deployment) {
      query.deployment = deployment;
    }
    return (await this.get<{ runs: RunSummary[] }>('runs', query)).runs;
  }

  /** `GET runs/{id}`: every stage's status, attempt, timings, URL and links. */
  run(runId: string, where?: Where): Promise<RunDetail> {
    return this.get<RunDetail>(`runs/${enc(runId)}`, whereQuery(where));
  }

  /** `POST runs/{id}/cancel` (202). */
  cancel(runId: string, where?: Where): Promise<RunDetail> {
    return this.request<RunDetail>('POST', `runs/${enc(runId)}/cancel`, whereQuery(where));
  }

  /** `GET runs/{id}/events?after=N` as JSON (the stream is ``eventsUrl``). */
  events(runId: string, after = 0, where?: Where): Promise<Events> {
    return this.get<Events>(`runs/${enc(runId)}/events`, {
      after: String(after),
      ...whereQuery(where)
    });
  }

  /**
   * The URL of the run's server-sent event stream (for an EventSource: same origin, the
   * session cookie; a GET needs no XSRF token).
   */
  eventsUrl(runId: string, after = 0, where?: Where): string {
    return this.url(`runs/${enc(runId)}/events`, {
      ...(after ? { after: String(after) } : {}),
      ...whereQuery(where)
    });
  }

  /** `GET runs/{id}/logs/{stage}?offset=N`: whole lines; ask again from next_offset. */
  logs(runId: string, stage: string, offset = 0, where?: Where): Promise<LogChunk> {
    return this.get<LogChunk>(`runs/${enc(runId)}/logs/${enc(stage)}`, {
      offset: String(offset),
      ...whereQuery(where)
    });
  }

  /** `GET runs/{id}/notebooks/{stage}`: the executed notebook, with its outputs. */
  notebook(runId: string, stage: string, where?: Where): Promise<NotebookJson> {
    return this.get<NotebookJson>(
      `runs/${enc(runId)}/notebooks/${enc(stage)}`,
      whereQuery(where)
    );
  }

  /** The URL of the executed notebook (a download: the session cookie authenticates it). */
  notebookUrl(runId: string, stage: string, where?: Where): string {
    return this.url(`runs/${enc(runId)}/notebooks/${enc(stage)}`, whereQuery(where));
  }

  // -- the transport -------------------------------------------------------------------

  url(endpoint: string, query: Record<string, string> = {}): string {
    return (
      URLExt.join(this.settings.baseUrl, API, endpoint) +
      (Object.keys(query).length ? URLExt.objectToQueryString(query) : '')
    );
  }

  get<T>(endpoint: string, query: Record<string, string> = {}): Promise<T> {
    return this.request<T>('GET', endpoint, query);
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    endpoint: string,
    query: Record<string, string> = {},
    body?: unknown
  ): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(this.url(endpoint, query), init, this.settings);
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
      const answer = (data ?? {}) as { error?: string; problems?: Problem[] };
      throw new BodyworkApiError(
        response.status,
        answer.error ?? `${response.status} ${response.statusText}`,
        answer.problems ?? []
      );
    }
    return data as T;
  }
}

/** A path under the root, each segment encoded, its slashes kept (stages/{path}). */
export function encodePath(path: string): string {
  return path.split('/').map(enc).join('/');
}

/** The message of anything thrown, for a status line. */
export function errorMessage(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
