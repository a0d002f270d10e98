/**
 * Tagging from JupyterLab: a "Bodywork stage" button on every notebook's toolbar, and the
 * command "Tag as Bodywork stage…" (palette, the notebook's context menu), opening the
 * stage form (tagdialog.tsx). After a save the open notebook is brought up to date
 * (tagdocument.ts) and the panel checks its folder again.
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import type { DocumentRegistry } from '@jupyterlab/docregistry';
import { ToolbarButton } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';

import { BodyworkApi, errorMessage, type StageTag } from './api';
import { bodyworkIcon } from './icon';
import { openTagForm } from './tagdialog';
import { refreshOpenNotebook } from './tagdocument';
import { panelServices } from './tagpanel';

export const TAG_NOTEBOOK = 'bodywork:tag-notebook';

/** A notebook's document widget, as far as tagging needs it (no @jupyterlab/notebook). */
interface NotebookView {
  widget: Widget;
  context: DocumentRegistry.Context;
}

export const tagPlugin: JupyterFrontEndPlugin<void> = {
  id: '@bodywork-jupyter/labextension:tagging',
  description: 'Tag a notebook as a Bodywork stage from its toolbar.',
  autoStart: true,
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, palette: ICommandPalette | null) => {
    const contents = app.serviceManager.contents;
    const api = new BodyworkApi(app.serviceManager.serverSettings);
    const notebooks = new Set<NotebookView>();
    const localPath = (view: NotebookView) => contents.localPath(view.context.path);

    const afterChange = async (path: string, tag: StageTag | null) => {
      // one document, maybe shown in several widgets
      const documents = new Map<DocumentRegistry.Context, Widget[]>();
      for (const view of notebooks) {
        if (localPath(view) === path) {
          documents.set(view.context, [...(documents.get(view.context) ?? []), view.widget]);
        }
      }
      for (const [context, widgets] of documents) {
        try {
          await refreshOpenNotebook(context, widgets, tag);
        } catch (reason) {
          Notification.warning(
            `The tag is saved in ${path}, but the open notebook could not be brought up to ` +
              `date: ${errorMessage(reason)}. Reload it from disk (File > Reload Notebook ` +
              'from Disk) once your unsaved changes are safe.',
            { autoClose: false }
          );
        }
      }
      panelServices()?.recheck();
    };
    const tag = (path: string) => openTagForm(path, { api, afterChange });

    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (widget: Widget, context: DocumentRegistry.Context) => {
        const view = { widget, context };
        notebooks.add(view);
        widget.disposed.connect(() => notebooks.delete(view));
        // a NotebookPanel is a DocumentWidget: its toolbar (duck-typed, see NotebookView)
        type WithToolbar = { toolbar: { insertItem: (...item: unknown[]) => boolean } };
        const toolbar = (widget as Partial<WithToolbar>).toolbar;
        const button = new ToolbarButton({
          icon: bodyworkIcon,
          tooltip: 'Bodywork stage',
          className: 'bw-TagButton',
          dataset: { bw: 'tag-button' },
          onClick: () => void tag(localPath(view))
        });
        toolbar?.insertItem(10, 'bodyworkStage', button);
        return button;
      }
    });

    /** The notebook a command is for: the one right-clicked, else the current one. */
    const target = (args: Record<string, unknown>): string | null => {
      if (typeof args.path === 'string' && args.path) {
        return args.path;
      }
      const hit = app.contextMenuHitTest(node => node.classList.contains('jp-NotebookPanel'));
      const current = app.shell.currentWidget;
      for (const view of notebooks) {
        if (hit ? view.widget.node === hit : view.widget === current) {
          return localPath(view);
        }
      }
      return null;
    };

    app.commands.addCommand(TAG_NOTEBOOK, {
      label: 'Tag as Bodywork stage\u2026',
      caption: "Tag this notebook as a stage of its folder's Bodywork pipeline",
      icon: args => (args.isPalette ? undefined : bodyworkIcon),
      isEnabled: args => target(args) !== null,
      execute: async args => {
        const path = target(args);
        if (path) {
          await tag(path);
        }
      }
    });
    palette?.addItem({ command: TAG_NOTEBOOK, category: 'Bodywork', args: { isPalette: true } });
    app.contextMenu.addItem({ command: TAG_NOTEBOOK, selector: '.jp-Notebook', rank: 100 });
  }
};
