/**
 * What the panel shows for one folder: is there a bodywork.yaml, is it valid (every
 * problem), its DAG laid out, and the git line. The view renders this; nothing here
 * touches the DOM.
 */

import { PathExt } from '@jupyterlab/coreutils';
import { VDomModel } from '@jupyterlab/ui-components';

import { BodyworkApi, BodyworkApiError } from './api';
import { type Dag, type DagLayout, layoutDag } from './dag';
import { describeGit, type GitLine } from './gitline';
import type { Validation } from './problems';

/** The names a pipeline's config may have (bodywork_jupyter/pipeline/load.py). */
export const CONFIG_NAMES = ['bodywork.yaml', 'bodywork.yml'];

/**
 * none: the folder has no bodywork.yaml; invalid: it has errors (see ``validation``);
 * ready: valid, with its DAG; error: the server could not answer.
 */
export type PanelStatus = 'idle' | 'loading' | 'none' | 'invalid' | 'ready' | 'error';

export class PanelModel extends VDomModel {
  /** The folder shown, relative to the server's root ('' is the root). */
  folder = '';
  status: PanelStatus = 'idle';
  /** A request is under way (the last answer stays shown meanwhile). */
  busy = false;
  validation: Validation | null = null;
  dag: Dag | null = null;
  layout: DagLayout | null = null;
  git: GitLine | null = null;
  gitError: string | null = null;
  error: string | null = null;
  /** When the last check finished (ms since the epoch), for "checked at". */
  checkedAt: number | null = null;

  private generation = 0;

  constructor(private readonly api: BodyworkApi) {
    super();
  }

  /** Show another folder (its old answers are dropped at once). */
  setFolder(folder: string): void {
    if (folder === this.folder && this.status !== 'idle') {
      return;
    }
    this.folder = folder;
    this.generation++;
    this.status = 'idle';
    this.busy = false;
    this.validation = null;
    this.dag = null;
    this.layout = null;
    this.git = null;
    this.gitError = null;
    this.error = null;
    this.checkedAt = null;
    this.stateChanged.emit(void 0);
  }

  /**
   * Check the folder again: validate (is there a config, is it valid?) and git at once,
   * then the DAG when the config is valid. Validating first keeps a broken file from
   * being a failed request: validate always answers 200.
   */
  async refresh(): Promise<void> {
    const generation = ++this.generation;
    const folder = this.folder;
    const query = folder || '.';
    this.busy = true;
    if (this.status === 'idle') {
      this.status = 'loading';
    }
    this.stateChanged.emit(void 0);

    // validate says whether the folder has a bodywork.yaml (``found``): no folder listing
    // first (on a 300-stage folder the listing was the slowest request before the DAG)
    const [validation, git] = await Promise.allSettled([
      this.api.validate(query),
      this.api.git(query)
    ]);
    if (generation !== this.generation) {
      return;
    }
    if (git.status === 'fulfilled') {
      this.git = describeGit(git.value);
      this.gitError = null;
    } else {
      this.git = null;
      this.gitError = message(git.reason);
    }

    let dag: Dag | null = null;
    let status: PanelStatus;
    let error: string | null = null;
    if (validation.status === 'rejected') {
      status = 'error';
      error = message(validation.reason);
    } else if (!validation.value.found) {
      status = 'none';
    } else if (!validation.value.valid) {
      status = 'invalid';
    } else {
      try {
        dag = await this.api.dag(query);
        status = 'ready';
      } catch (reason) {
        status = 'error';
        error = message(reason);
      }
      if (generation !== this.generation) {
        return;
      }
    }
    this.validation =
      status !== 'none' && validation.status === 'fulfilled' ? validation.value : null;
    this.dag = dag;
    this.layout = dag ? layoutDag(dag) : null;
    this.status = status;
    this.error = error;
    this.busy = false;
    this.checkedAt = Date.now();
    this.stateChanged.emit(void 0);
  }

  /** Whether a change to ``path`` (a file saved, created or deleted) can change the view. */
  concerns(path: string | undefined | null): 'config' | 'folder' | null {
    if (!path) {
      return null;
    }
    const inside = this.folder ? path.startsWith(`${this.folder}/`) : true;
    if (!inside) {
      return null;
    }
    const dir = PathExt.dirname(path);
    if (dir === this.folder && CONFIG_NAMES.includes(PathExt.basename(path))) {
      return 'config';
    }
    return 'folder';
  }
}

function message(reason: unknown): string {
  if (reason instanceof BodyworkApiError) {
    return reason.message;
  }
  return reason instanceof Error ? reason.message : String(reason);
}
