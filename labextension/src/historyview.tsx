/** The history section of the panel. */


import type { HistoryModel } from './history';

export function HistoryView(_props: { history: HistoryModel }): JSX.Element | null {
  return null;
}
