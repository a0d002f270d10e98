/** A list of problems, each opening its file at its line: the panel's and Generate's. */

import * as React from 'react';

import { formatProblem, location, openTarget, type Problem, problemKey } from './problems';

export interface ProblemItemsProps {
  problems: Problem[];
  /** Open a file under the root; ``line`` is 0-based, null for none. */
  open(path: string, line: number | null): void;
  /** The data-bw hook of each item; the list's is the same plus "s". */
  hook: string;
  label?: string;
}

export function ProblemItems({ problems, open, hook, label }: ProblemItemsProps): JSX.Element {
  return (
    <ul className="bw-Problems" data-bw={`${hook}s`} aria-label={label}>
      {problems.map((problem, index) => {
        const target = openTarget(problem);
        const text = formatProblem(problem);
        const body = (
          <>
            <span className={`bw-Problem-severity bw-mod-${problem.severity}`}>
              {problem.severity}
            </span>
            <span className="bw-Problem-where">{location(problem)}</span>
            {problem.path && <span className="bw-Problem-field">{problem.path}</span>}
            <span className="bw-Problem-message">{problem.message}</span>
            {problem.hint && <span className="bw-Problem-hint">{problem.hint}</span>}
          </>
        );
        return (
          <li
            key={problemKey(problem, index)}
            className="bw-Problem"
            data-bw={hook}
            data-file={problem.file}
            data-line={problem.line}
            data-field={problem.path}
            data-severity={problem.severity}
          >
            {target ? (
              <button
                type="button"
                className="bw-Problem-open"
                aria-label={`Open ${location(problem)}: ${text}`}
                title={text}
                onClick={() => open(target.path, target.line)}
              >
                {body}
              </button>
            ) : (
              <div className="bw-Problem-text" title={text}>
                {body}
              </div>
            )}
          </li>
        );
      })}
    </ul>
  );
}
