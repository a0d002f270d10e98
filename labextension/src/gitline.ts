/**
 * The git line of the panel: which branch and commit a deploy of this folder takes, and a
 * warning when the folder has changes that a deploy would leave out. Pure.
 *
 * A folder in a git repository is deployed at a commit (HEAD): uncommitted changes are not
 * part of it (docs/users/running.md). A folder outside git is deployed as it is on disk.
 */

/** openapi.yaml: GitInfo (`GET /bodywork/api/git?path=DIR`). */
export interface GitInfo {
  is_repo: boolean;
  path?: string;
  root?: string;
  project_dir?: string;
  remote?: string | null;
  remote_url?: string | null;
  branch?: string | null;
  commit?: string | null;
  dirty?: boolean;
  changed_files?: { path: string; status: string }[];
}

export interface GitLine {
  /** e.g. "main @ 3f0c1a2b" */
  text: string;
  /** Set when what is deployed is not what is on disk. */
  warning: string | null;
  branch: string | null;
  commit: string | null;
  dirty: boolean;
}

export function shortCommit(commit: string | null | undefined): string | null {
  return commit ? commit.slice(0, 8) : null;
}

export function describeGit(info: GitInfo): GitLine {
  if (!info.is_repo) {
    return {
      text: 'not in a git repository: a deploy takes the folder as it is now',
      warning: null,
      branch: null,
      commit: null,
      dirty: false
    };
  }
  const branch = info.branch ?? null;
  const commit = info.commit ?? null;
  const short = shortCommit(commit);
  const where = branch ?? 'detached HEAD';
  if (!short) {
    return {
      text: `${where}, no commits yet`,
      warning: 'nothing is committed yet: commit the pipeline to deploy it',
      branch,
      commit,
      dirty: Boolean(info.dirty)
    };
  }
  const changed = info.changed_files?.length ?? 0;
  const one = changed === 1;
  const warning = info.dirty
    ? `${changed || 'some'} uncommitted change${one ? '' : 's'} in this folder ` +
      `${one ? 'is' : 'are'} not part of a deploy (commit ${short} is) - commit ` +
      `${one ? 'it' : 'them'} to include ${one ? 'it' : 'them'}`
    : null;
  return { text: `${where} @ ${short}`, warning, branch, commit, dirty: Boolean(info.dirty) };
}
