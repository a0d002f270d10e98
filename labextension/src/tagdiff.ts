/**
 * What Generate changed in bodywork.yaml: the server's unified diff (`POST
 * pipeline/generate`: difflib's, `--- a/bodywork.yaml` `+++ b/bodywork.yaml`) read line by
 * line, counted, and summed up in one heading. Pure: no DOM, no JupyterLab.
 * (Named tag*: the tagging part's files are; Generate writes bodywork.yaml from the tags.)
 */

export type DiffLineKind = 'header' | 'hunk' | 'add' | 'remove' | 'context' | 'note';

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
}

/**
 * Each line of a unified diff with its kind. The `---`/`+++` file lines come before the
 * first hunk only: inside a hunk, a removed line reading `-- x` is `--- x`, a removal.
 */
export function classifyDiff(diff: string): DiffLine[] {
  const lines = diff.split('\n');
  if (lines.length && lines[lines.length - 1] === '') {
    lines.pop();
  }
  let inHunk = false;
  return lines.map(line => {
    let kind: DiffLineKind;
    if (line.startsWith('@@')) {
      inHunk = true;
      kind = 'hunk';
    } else if (!inHunk) {
      kind = 'header';
    } else if (line.startsWith('+')) {
      kind = 'add';
    } else if (line.startsWith('-')) {
      kind = 'remove';
    } else if (line.startsWith('\\')) {
      kind = 'note'; // "\ No newline at end of file"
    } else {
      kind = 'context';
    }
    return { kind, text: line };
  });
}

/** How many lines the diff adds and removes. */
export function countChanges(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === 'add') {
      added += 1;
    } else if (line.kind === 'remove') {
      removed += 1;
    }
  }
  return { added, removed };
}

/** "bodywork.yaml: 12 lines added, 0 removed", or "bodywork.yaml: unchanged". */
export function diffHeading(configFile: string, diff: string, changed: boolean): string {
  const name = configFile.split('/').pop() || 'bodywork.yaml';
  const { added, removed } = countChanges(classifyDiff(diff));
  if (!changed || added + removed === 0) {
    return `${name}: unchanged`;
  }
  return `${name}: ${added} line${added === 1 ? '' : 's'} added, ${removed} removed`;
}
