/**
 * Where an executed notebook opens in JupyterLab: a path of the read-only BodyworkRuns
 * drive (executed.ts), `BodyworkRuns:RUN/STAGE.ipynb`, and the contents model the drive
 * answers for it. Pure: no DOM, no JupyterLab (types only).
 */

import type { Contents } from '@jupyterlab/services';

import type { NotebookJson } from './api';

export const EXECUTED_DRIVE = 'BodyworkRuns';

/** What a save (or any change) of an executed notebook says. */
export const READ_ONLY_MESSAGE =
  'An executed notebook is the record of a run and cannot be changed: download it ' +
  '(File > Download) or copy its cells into a notebook of your own';

/** The drive's path of a run's executed notebook (what docManager opens). */
export function executedPath(runId: string, stage: string): string {
  return `${EXECUTED_DRIVE}:${executedLocalPath(runId, stage)}`;
}

/** The path inside the drive: RUN/STAGE.ipynb. */
export function executedLocalPath(runId: string, stage: string): string {
  return `${runId}/${stage}.ipynb`;
}

/** What a path inside the drive names: the drive's root, a run's folder, or a notebook. */
export type ExecutedEntry =
  | { kind: 'root' }
  | { kind: 'run'; runId: string }
  | { kind: 'notebook'; runId: string; stage: string }
  | { kind: 'none' };

export function parseExecutedPath(localPath: string): ExecutedEntry {
  const parts = localPath.split('/').filter(part => part !== '');
  if (parts.length === 0) {
    return { kind: 'root' };
  }
  if (parts.length === 1) {
    return { kind: 'run', runId: parts[0] };
  }
  if (parts.length === 2 && parts[1].endsWith('.ipynb') && parts[1].length > '.ipynb'.length) {
    return { kind: 'notebook', runId: parts[0], stage: parts[1].slice(0, -'.ipynb'.length) };
  }
  return { kind: 'none' };
}

/** A read-only folder of the drive (nothing is listed in it). */
export function folderModel(localPath: string, withContent: boolean): Contents.IModel {
  const name = localPath.split('/').filter(Boolean).pop() ?? '';
  return {
    name,
    path: localPath,
    type: 'directory',
    format: withContent ? 'json' : null,
    mimetype: '',
    content: withContent ? [] : null,
    writable: false,
    created: EPOCH,
    last_modified: EPOCH
  };
}

/** An executed notebook as a read-only notebook model (its content: null when not asked). */
export function notebookModel(
  localPath: string,
  content: NotebookJson | null,
  modified: string
): Contents.IModel {
  const name = localPath.split('/').pop() ?? localPath;
  return {
    name,
    path: localPath,
    type: 'notebook',
    format: content ? 'json' : null,
    mimetype: 'application/x-ipynb+json',
    content,
    writable: false,
    created: modified,
    last_modified: modified
  };
}

const EPOCH = new Date(0).toISOString();
