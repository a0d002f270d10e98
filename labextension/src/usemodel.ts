/** A React hook: draw again when a VDomModel says it changed. */

import type { VDomModel } from '@jupyterlab/ui-components';
import * as React from 'react';

/**
 * Subscribe the calling component to ``model.stateChanged``. The panel itself is drawn on
 * its PanelModel's changes; its parts (live run, history, generate) keep their own models
 * and use this so a change there redraws only them.
 */
export function useModel<T extends VDomModel>(model: T): T {
  const [, redraw] = React.useReducer((n: number) => n + 1, 0);
  React.useEffect(() => {
    const changed = () => redraw();
    model.stateChanged.connect(changed);
    return () => {
      model.stateChanged.disconnect(changed);
    };
  }, [model]);
  return model;
}
