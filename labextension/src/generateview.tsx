/** The Generate button (panel toolbar) and its result (what changed in bodywork.yaml). */


import type { GenerateModel } from './generate';

export function GenerateButton(_props: { model: GenerateModel }): JSX.Element | null {
  return null;
}

export function GenerateResult(_props: { model: GenerateModel }): JSX.Element | null {
  return null;
}
