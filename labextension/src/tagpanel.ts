/**
 * The Bodywork panel's services, for the tag form: after a tag is written the panel
 * checks its folder again (services.recheck). index.ts builds the services once, in the
 * panel plugin, and hands them to GenerateModel (generate.ts), which leaves them here;
 * the tag plugin activates separately, so it asks at save time, when both are up.
 */

import type { PanelServices } from './context';

let services: PanelServices | null = null;

export function setPanelServices(panel: PanelServices): void {
  services = panel;
}

/** The panel's services (null until the panel plugin has activated). */
export function panelServices(): PanelServices | null {
  return services;
}
