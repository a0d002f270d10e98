/**
 * "Export to Argo": the pure part (no DOM, no JupyterLab). The deploy dialog's target list
 * holds an entry `argo` (GET targets) that is not a deploy: choosing it opens the export's
 * own dialog (exportargo.tsx), which sends `POST pipeline/export` (bodywork export argo).
 */

import type { Target } from './api';

/** openapi.yaml: pipeline/export `kind` (the CLI's --kind). */
export type ArgoKind = 'workflow' | 'template' | 'cron';

/** The kinds, in the order the dialog offers them, with what each is for. */
export const ARGO_KINDS: ReadonlyArray<{ kind: ArgoKind; label: string }> = [
  { kind: 'workflow', label: 'Workflow: runs once, when submitted' },
  { kind: 'template', label: 'WorkflowTemplate: submit it as often as you like' },
  { kind: 'cron', label: "CronWorkflow: runs on the pipeline's schedule" }
];

/** openapi.yaml: the POST pipeline/export body. */
export interface ExportRequest {
  folder: string;
  kind: ArgoKind;
  namespace?: string;
  image?: string;
  write: boolean;
  output?: string;
  overwrite?: boolean;
}

/** openapi.yaml: its 200 answer. */
export interface ExportResult {
  kind: ArgoKind;
  name: string | null;
  yaml: string;
  written: boolean;
  path: string | null;
  warnings: string[];
}

/** What the dialog holds: the fields as typed. */
export interface ExportFields {
  kind: ArgoKind;
  namespace: string;
  image: string;
}

/** The target `GET targets` lists for the export (targets/registry.py: EXPORT_ARGO). */
export const EXPORT_TARGET = 'argo';

/** Whether the deploy dialog's chosen target is the export, not a deploy. */
export function isExportTarget(target: Target | undefined | null): boolean {
  return target?.target === EXPORT_TARGET;
}

/** A Kubernetes namespace: an RFC 1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** What is wrong with each typed field (by field name); empty when the export can be sent. */
export function fieldErrors(fields: ExportFields): Partial<Record<keyof ExportFields, string>> {
  const errors: Partial<Record<keyof ExportFields, string>> = {};
  const namespace = fields.namespace.trim();
  if (namespace && (namespace.length > 63 || !NAMESPACE.test(namespace))) {
    errors.namespace =
      'A namespace is at most 63 lower-case letters, digits and "-", starting and ending ' +
      'with a letter or digit';
  }
  if (/\s/.test(fields.image.trim())) {
    errors.image = 'An image reference holds no spaces, e.g. python:3.12-slim';
  }
  return errors;
}

/** The body for the folder and the fields: what was typed, and write the file. */
export function exportRequest(folder: string, fields: ExportFields): ExportRequest {
  const request: ExportRequest = { folder: folder || '.', kind: fields.kind, write: true };
  const namespace = fields.namespace.trim();
  const image = fields.image.trim();
  if (namespace) {
    request.namespace = namespace;
  }
  if (image) {
    request.image = image;
  }
  return request;
}

/** What to run next with the written file (as `bodywork export argo -o FILE` says). */
export function nextStep(result: ExportResult, namespace: string): string {
  const file = result.path ?? 'the file';
  const ns = namespace.trim() ? ` -n ${namespace.trim()}` : '';
  if (result.kind === 'workflow') {
    return `Run it with: argo submit${ns} ${file}`;
  }
  if (result.kind === 'template') {
    const from = result.name ? ` --from workflowtemplate/${result.name}` : '';
    return `Add it with: kubectl apply -f ${file}, then run it with: argo submit${ns}${from}`;
  }
  return `Schedule it with: kubectl apply -f ${file}`;
}

/** The one line that says what was exported where. */
export function exportSummary(result: ExportResult): string {
  const what = ARGO_KINDS.find(k => k.kind === result.kind)?.label.split(':')[0] ?? 'Export';
  const name = result.name ? ` ${result.name}` : '';
  return result.written && result.path
    ? `Exported ${what}${name} to ${result.path}`
    : `Exported ${what}${name} (not written)`;
}
