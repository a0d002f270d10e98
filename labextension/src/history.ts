/**
 * History: the deployments and, for each one opened, its runs; cancel, re-run, delete.
 *
 * Everything is read from the server's records (`GET deployments`, `GET deployments/{name}`),
 * so the history survives a page reload and a server restart. It is read on first show,
 * after every action (and after a deploy: the deploy dialog calls ``refresh``), and every
 * few seconds while something in it is still changing. After a reload the page follows the
 * folder's pipeline's run in the live view when one is still queued or running.
 *
 * The history shows one Where at a time (this machine, or a kubeconfig context of
 * `GET targets`), chosen in the view and remembered across reloads (localStorage); every
 * read and action asks that Where, and a run followed from it is followed there.
 *
 * Failures are kept as messages for the view; nothing here throws into the UI.
 */

import { VDomModel } from '@jupyterlab/ui-components';

import {
  BodyworkApiError,
  type Deployment,
  errorMessage,
  type RunSummary,
  type Where
} from './api';
import type { PanelServices } from './context';
import { rerun } from './historyapi';
import { anyChanging, runToFollow, sortDeployments, sortRuns } from './historylist';
import type { LiveRunModel } from './liverun';
import {
  LOCAL,
  parseWhere,
  sameWhere,
  storeWhere,
  whereChoices,
  whereKey,
  whereLabel
} from './where';

/** How often the history asks again while a run is queued or running. */
export const POLL_MS = 3000;
/** Where the history's choice is remembered (localStorage). */
export const WHERE_KEY = '@bodywork-jupyter/labextension:history-where';

/** One choice of the history's "Where" selector. */
export interface WhereChoice {
  where: Where;
  label: string;
}

export class HistoryModel extends VDomModel {
  /** Whose deployments and runs are shown (default: this machine). */
  where: Where = rememberedWhere();
  /** This machine and each kubeconfig context (`GET targets`; until read: this machine). */
  targetChoices: WhereChoice[] = whereChoices([]);
  /** Why the kubeconfig's contexts could not be read (null: they could). */
  targetsError: string | null = null;
  /** The deployments, most recently changed first (deleted ones only with ``showDeleted``). */
  deployments: Deployment[] = [];
  /** The runs of each opened deployment, newest first. */
  runs = new Map<string, RunSummary[]>();
  /** The deployments whose runs are shown. */
  readonly expanded = new Set<string>();
  /** List deleted deployments too (`GET deployments?all=true`). */
  showDeleted = false;
  /** The history has been read at least once. */
  loaded = false;
  /** A read is under way (the last answer stays shown meanwhile). */
  loading = false;
  /** Why the last read failed (null: it did not). */
  error: string | null = null;
  /** Why the last action failed (null: it did not). */
  actionError: string | null = null;
  /** What the last re-run's server said (its warnings). */
  notice: string | null = null;
  /** Actions under way, by key (``cancel:ID``, ``rerun:ID``, ``delete:NAME``). */
  readonly pending = new Set<string>();

  private shown = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  /** The folder last checked for a run to follow (once per folder). */
  private followChecked: string | null = null;

  constructor(
    readonly services: PanelServices,
    readonly run: LiveRunModel
  ) {
    super();
  }

  /** The view is on screen: read the history (and the places it can show) the first time. */
  show(): void {
    if (!this.shown) {
      this.shown = true;
      void this.readTargets();
      void this.refresh();
    }
  }

  /** The selector's choices: the targets, and the one shown if it is not among them. */
  get choices(): WhereChoice[] {
    const found = this.targetChoices;
    if (found.some(choice => sameWhere(choice.where, this.where))) {
      return found;
    }
    return [...found, { where: this.where, label: whereLabel(this.where) }];
  }

  /** Show ``where``'s deployments and runs from now on (and remember the choice). */
  setWhere(where: Where): void {
    if (sameWhere(where, this.where) || this.isDisposed) {
      return;
    }
    this.where = where;
    remember(where);
    this.deployments = [];
    this.runs = new Map();
    this.expanded.clear();
    this.loaded = false;
    this.error = null;
    this.actionError = null;
    this.notice = null;
    this.changed();
    void this.refresh();
  }

  /** Show ``where`` (a deploy went there) and read it again. */
  showWhere(where: Where): Promise<void> {
    if (sameWhere(where, this.where)) {
      return this.refresh();
    }
    this.setWhere(where);
    return this.reading ?? Promise.resolve();
  }

  /**
   * Read the deployments and runs again. A call while a read is under way reads once more
   * after it (that read may have started before what the caller changed).
   */
  refresh(): Promise<void> {
    if (this.isDisposed) {
      return Promise.resolve();
    }
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.readAgain = false;
          await this.read();
        } while (this.readAgain && !this.isDisposed);
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  /** Show or hide a deployment's runs (they are read when shown). */
  toggle(name: string): void {
    if (this.expanded.has(name)) {
      this.expanded.delete(name);
      this.runs.delete(name);
      this.changed();
      return;
    }
    this.expanded.add(name);
    this.changed();
    void this.refresh();
  }

  /** List the deleted deployments too, or not. */
  setShowDeleted(value: boolean): void {
    if (value !== this.showDeleted) {
      this.showDeleted = value;
      this.changed();
      void this.refresh();
    }
  }

  /** Show ``runId`` (of the Where shown) in the live view. */
  follow(runId: string): void {
    this.run.follow(runId, this.where);
  }

  /** The live view shows ``runId`` of the Where shown. */
  isFollowed(runId: string): boolean {
    return this.run.runId === runId && sameWhere(this.run.where, this.where);
  }

  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  /** `POST runs/{id}/cancel`. */
  cancel(runId: string): Promise<void> {
    const where = this.where;
    return this.act(`cancel:${runId}`, `Could not cancel run ${runId}`, async () => {
      await this.services.api.cancel(runId, where);
    });
  }

  /** `POST runs/{id}/rerun`: the new run is shown in the live view. */
  rerun(runId: string): Promise<void> {
    const where = this.where;
    return this.act(`rerun:${runId}`, `Could not run ${runId} again`, async () => {
      const created = await rerun(this.services.api, runId, where);
      if (sameWhere(where, this.where)) {
        this.expanded.add(created.deployment);
        this.notice = created.warnings?.length ? created.warnings.join(' ') : null;
      }
      this.run.follow(created.id, where);
    });
  }

  /** `DELETE deployments/{name}` (the view asked first). */
  remove(name: string): Promise<void> {
    const where = this.where;
    return this.act(`delete:${name}`, `Could not delete deployment ${name}`, async () => {
      await this.services.api.deleteDeployment(name, where);
      this.notice = null;
    });
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this.stopPolling();
    super.dispose();
  }

  // -- reading -----------------------------------------------------------------------------

  private async read(): Promise<void> {
    this.stopPolling();
    this.loading = true;
    this.changed();
    const api = this.services.api;
    const where = this.where;
    try {
      const deployments = await api.deployments(this.showDeleted, where);
      const names = new Set(deployments.map(d => d.name));
      for (const name of [...this.expanded]) {
        if (!names.has(name)) {
          this.expanded.delete(name); // deleted (and not listed), or gone
        }
      }
      const runs = new Map<string, RunSummary[]>();
      let failed: string | null = null;
      await Promise.all(
        [...this.expanded].map(async name => {
          try {
            runs.set(name, sortRuns((await api.deployment(name, where)).runs ?? []));
          } catch (reason) {
            if (reason instanceof BodyworkApiError && reason.status === 404) {
              this.expanded.delete(name);
            } else {
              failed = `Could not read the runs of ${name}: ${errorMessage(reason)}`;
              runs.set(name, this.runs.get(name) ?? []);
            }
          }
        })
      );
      if (this.isDisposed || !sameWhere(where, this.where)) {
        return; // another Where was chosen meanwhile: its read follows
      }
      this.deployments = sortDeployments(deployments);
      this.runs = runs;
      this.loaded = true;
      this.error = failed;
    } catch (reason) {
      if (!sameWhere(where, this.where)) {
        return;
      }
      this.error = `Could not read the history of ${whereLabel(where)}: ${errorMessage(reason)}`;
    } finally {
      this.loading = false;
    }
    if (this.isDisposed) {
      return;
    }
    if (this.error === null) {
      await this.followFolderRun();
    }
    this.changed();
    this.pollIfChanging();
  }

  /**
   * A reloaded page (nothing followed yet) follows the folder's pipeline's run when it is
   * still queued or running. Checked once per folder; a run the person chose stays.
   */
  private async followFolderRun(): Promise<void> {
    const folder = this.services.folder();
    const where = this.where;
    const checked = `${whereKey(where)}\n${folder}`;
    if (this.run.runId !== null || this.followChecked === checked) {
      return;
    }
    this.followChecked = checked;
    let pipeline: string | null;
    try {
      pipeline = (await this.services.api.validate(folder || '.')).pipeline;
    } catch {
      return; // the panel's status line says why the folder cannot be read
    }
    const runId = runToFollow(this.deployments, pipeline);
    if (
      runId !== null &&
      this.run.runId === null &&
      !this.isDisposed &&
      sameWhere(where, this.where)
    ) {
      this.run.follow(runId, where);
    }
  }

  /** Ask again soon while anything shown is still changing (also across a failed read). */
  private pollIfChanging(): void {
    this.stopPolling();
    if (!this.isDisposed && anyChanging(this.deployments, this.runs.values())) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.refresh();
      }, POLL_MS);
    }
  }

  private stopPolling(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /** This machine and each kubeconfig context, for the selector. */
  private async readTargets(): Promise<void> {
    try {
      const targets = await this.services.api.targets();
      this.targetChoices = whereChoices(targets);
      this.targetsError = null;
    } catch (reason) {
      this.targetsError = `Could not read the kubeconfig's contexts: ${errorMessage(reason)}`;
    }
    this.changed();
  }

  // -- actions -----------------------------------------------------------------------------

  private async act(key: string, failure: string, work: () => Promise<void>): Promise<void> {
    if (this.pending.has(key) || this.isDisposed) {
      return;
    }
    this.pending.add(key);
    this.actionError = null;
    this.changed();
    try {
      await work();
    } catch (reason) {
      this.actionError = `${failure}: ${errorMessage(reason)}`;
    } finally {
      this.pending.delete(key);
    }
    if (!this.isDisposed) {
      this.changed();
      await this.refresh();
    }
  }

  private changed(): void {
    if (!this.isDisposed) {
      this.stateChanged.emit(void 0);
    }
  }
}

/** The Where chosen last (this machine when none was, or storage is unavailable). */
function rememberedWhere(): Where {
  try {
    return parseWhere(globalThis.localStorage?.getItem(WHERE_KEY)) ?? LOCAL;
  } catch {
    return LOCAL; // storage refused (a private window's policy)
  }
}

function remember(where: Where): void {
  try {
    globalThis.localStorage?.setItem(WHERE_KEY, storeWhere(where));
  } catch {
    // not remembered: the choice holds until the page is reloaded
  }
}
