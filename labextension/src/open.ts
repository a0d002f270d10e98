/** Opening a file of the pipeline in JupyterLab, at a line when there is one. */

import type { IDocumentManager } from '@jupyterlab/docmanager';
import { FileEditor } from '@jupyterlab/fileeditor';

/**
 * Open (or bring forward) ``path`` and, in a text editor, put the cursor on ``line``
 * (0-based) and scroll it into view. Notebooks and other documents just open.
 */
export async function openAt(
  docManager: IDocumentManager,
  path: string,
  line: number | null
): Promise<void> {
  const widget = docManager.openOrReveal(path);
  if (!widget) {
    return;
  }
  await widget.context.ready;
  const content = widget.content;
  if (line === null || !(content instanceof FileEditor)) {
    return;
  }
  await content.ready;
  const editor = content.editor;
  const last = Math.max(0, editor.lineCount - 1);
  const position = { line: Math.min(line, last), column: 0 };
  editor.setCursorPosition(position);
  editor.revealPosition(position);
  editor.focus();
}
