/**
 * An open notebook brought up to date with the tag the server just wrote to its file.
 *
 * Why the tag is written by the server (PUT stages/{path}) and not by setting the open
 * notebook's metadata and saving through its context: a save writes the whole notebook,
 * so unsaved cell edits (and the kernel's language_info, which JupyterLab adds on open)
 * would reach the disk with the tag, and the tag would skip the server's check (the same
 * as `bodywork tag`'s and the ipywidget's). The server writes only metadata.bodywork.
 *
 * The open notebook then has to learn of the new file, or its next save (or autosave)
 * would find the file changed on disk and ask whether to overwrite it. Reverting makes
 * the document the file on disk and tells its context the file's new hash; what was not
 * saved is then put back on top (the metadata, and the cells when they differ) with the
 * new tag, and the notebook stays unsaved.
 */

import type { DocumentRegistry } from '@jupyterlab/docregistry';
import type { Widget } from '@lumino/widgets';

import type { StageTag } from './api';

/** The key of the tag in a notebook's metadata (bodywork_jupyter/pipeline/tags.py). */
export const TAG_KEY = 'bodywork';

type Json = Record<string, unknown>;

/** ``tag`` (null: none) put into a notebook's JSON, everything else as it is. */
export function withTag(notebook: Json, tag: StageTag | null): Json {
  const metadata: Json = { ...((notebook.metadata as Json | undefined) ?? {}) };
  if (tag) {
    metadata[TAG_KEY] = tag;
  } else {
    delete metadata[TAG_KEY];
  }
  return { ...notebook, metadata };
}

/** What a notebook model has beyond DocumentRegistry.IModel (INotebookModel's methods). */
interface NotebookMetadata {
  setMetadata(key: string, value: unknown): void;
  deleteMetadata(key: string): void;
}

/** The notebook widget's cells, as far as waiting for them needs (no @jupyterlab/notebook). */
interface CellsView {
  content?: { widgets?: ReadonlyArray<{ isPlaceholder?: () => boolean }> };
}

/**
 * Wait (a few seconds at most) until JupyterLab has drawn the notebook's cells: it draws
 * them when the browser is idle, and a cell replaced while it is being drawn makes that
 * loop fail (an uncaught TypeError in JupyterLab's own code).
 */
async function drawn(widget: Widget, timeoutMs = 5000): Promise<void> {
  const cells = () => (widget as CellsView).content?.widgets ?? [];
  const deadline = Date.now() + timeoutMs;
  const pending = () => cells().some(cell => cell.isPlaceholder?.() === true);
  while (pending() && Date.now() < deadline && !widget.isDisposed) {
    await new Promise(resolve => window.setTimeout(resolve, 50));
  }
  // the loop's last step runs a frame after its cell is ready
  await new Promise(resolve => window.requestAnimationFrame(() => resolve(undefined)));
}

export async function refreshOpenNotebook(
  context: DocumentRegistry.Context,
  widgets: Widget[],
  tag: StageTag | null
): Promise<void> {
  if (!context.isReady) {
    return; // still loading: it reads the file as written
  }
  const settle = () => Promise.all(widgets.map(widget => drawn(widget)));
  const model = context.model;
  const dirty = model.dirty;
  const edited = model.toJSON() as Json;
  await settle();
  await context.revert();
  if (!dirty) {
    return;
  }
  const wanted = withTag(edited, tag);
  const onDisk = model.toJSON() as Json;
  const metadataOnly =
    JSON.stringify(onDisk.cells) === JSON.stringify(wanted.cells) && 'setMetadata' in model;
  if (metadataOnly) {
    // the usual case (only metadata JupyterLab added on open): no cell is replaced
    const notebook = model as unknown as NotebookMetadata;
    const before = (onDisk.metadata ?? {}) as Json;
    const after = (wanted.metadata ?? {}) as Json;
    for (const key of Object.keys(before)) {
      if (!(key in after)) {
        notebook.deleteMetadata(key);
      }
    }
    for (const [key, value] of Object.entries(after)) {
      if (JSON.stringify(before[key]) !== JSON.stringify(value)) {
        notebook.setMetadata(key, value);
      }
    }
  } else {
    await settle();
    model.fromJSON(wanted as Parameters<typeof model.fromJSON>[0]);
  }
  model.dirty = true;
}
