/** Generate: bodywork.yaml written from the folder's stage tags, and what changed. */

import { VDomModel } from '@jupyterlab/ui-components';

import type { PanelServices } from './context';

export class GenerateModel extends VDomModel {
  constructor(readonly services: PanelServices) {
    super();
  }
}
