/**
 * Generate: bodywork.yaml written from the folder's stage tags (`POST pipeline/generate`),
 * and what changed (the diff, notices, the written file's problems). The panel's folder
 * is checked again afterwards: the server wrote the file, so no JupyterLab save told it.
 */

import { VDomModel } from '@jupyterlab/ui-components';

import { BodyworkApiError, errorMessage, type Generated } from './api';
import type { PanelServices } from './context';
import type { Problem } from './problems';
import { setPanelServices } from './tagpanel';

/**
 * running: under way; done: answered (``result``); no-stages: the folder has no stage
 * tags, so nothing was generated (nor written); error: refused (``error``, ``problems``).
 */
export type GenerateState = 'idle' | 'running' | 'done' | 'no-stages' | 'error';

export class GenerateModel extends VDomModel {
  state: GenerateState = 'idle';
  /** The folder the result is for ('' is the root). */
  folder = '';
  result: Generated | null = null;
  error: string | null = null;
  problems: Problem[] = [];
  private generation = 0;

  constructor(readonly services: PanelServices) {
    super();
    setPanelServices(services);
  }

  get busy(): boolean {
    return this.state === 'running';
  }

  /** Whether the result is for ``folder`` (the panel shows another folder's result not). */
  shownFor(folder: string): boolean {
    return this.state !== 'idle' && this.folder === folder;
  }

  /**
   * Generate bodywork.yaml for the panel's folder. A folder without stage tags is said so
   * and left alone: generate would write a bodywork.yaml with no stages (its only answer
   * being the written file's "no stages defined" problem).
   */
  async generate(): Promise<void> {
    if (this.busy) {
      return;
    }
    const generation = ++this.generation;
    const folder = this.services.folder();
    const query = folder || '.';
    this.folder = folder;
    this.state = 'running';
    this.clear();
    this.stateChanged.emit(void 0);
    let state: GenerateState;
    let result: Generated | null = null;
    let error: unknown = null;
    try {
      const tagged = await this.services.api.stages(query, true);
      if (tagged.length === 0) {
        state = 'no-stages';
      } else {
        result = await this.services.api.generate(query);
        state = 'done';
      }
    } catch (reason) {
      state = 'error';
      error = reason;
    }
    if (generation !== this.generation) {
      return;
    }
    this.state = state;
    this.result = result;
    if (error !== null) {
      this.error = errorMessage(error);
      this.problems = error instanceof BodyworkApiError ? error.problems : [];
    }
    this.stateChanged.emit(void 0);
    if (state === 'done') {
      this.services.recheck();
    }
  }

  dismiss(): void {
    this.generation += 1;
    this.state = 'idle';
    this.clear();
    this.stateChanged.emit(void 0);
  }

  private clear(): void {
    this.result = null;
    this.error = null;
    this.problems = [];
  }
}
