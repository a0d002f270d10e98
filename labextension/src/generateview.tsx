/** The Generate button (panel toolbar) and its result (what changed in bodywork.yaml). */

import * as React from 'react';

import type { PanelServices } from './context';
import type { GenerateModel } from './generate';
import { ProblemItems } from './problemlist';
import type { Problem } from './problems';
import { classifyDiff, countChanges, diffHeading } from './tagdiff';
import { useModel } from './usemodel';

export function GenerateButton({ model }: { model: GenerateModel }): JSX.Element {
  const generate = useModel(model);
  return (
    <button
      type="button"
      className="jp-mod-styled bw-Button"
      data-bw="generate"
      aria-label="Generate bodywork.yaml from the stage tags in this folder"
      title="Write bodywork.yaml from the stage tags of this folder's notebooks; show what changed"
      aria-disabled={generate.busy}
      onClick={() => void generate.generate()}
    >
      {generate.busy ? 'Generating\u2026' : 'Generate'}
    </button>
  );
}

export function GenerateResult({ model }: { model: GenerateModel }): JSX.Element | null {
  const generate = useModel(model);
  const services = generate.services;
  if (!generate.shownFor(services.folder())) {
    return null;
  }
  const where = generate.folder ? `/${generate.folder}` : '/';
  const result = generate.result;
  let heading: string;
  let body: React.ReactNode;
  switch (generate.state) {
    case 'running':
      heading = 'Generating bodywork.yaml\u2026';
      body = null;
      break;
    case 'no-stages':
      heading = 'bodywork.yaml: not generated';
      body = (
        <p className="bw-Generate-message bw-mod-warning" data-bw="generate-message" role="status">
          No tagged stages in <code>{where}</code>, so there is nothing to generate from (and
          nothing was written). Tag a notebook as a stage first: the &ldquo;Bodywork stage&rdquo;
          button of its toolbar, or &ldquo;Tag as Bodywork stage&hellip;&rdquo; in the command
          palette. Then Generate again.
        </p>
      );
      break;
    case 'error':
      heading = 'bodywork.yaml: not generated';
      body = (
        <>
          <p className="bw-Generate-message bw-mod-error" data-bw="generate-message" role="alert">
            {generate.error}
          </p>
          <GenerateProblems problems={generate.problems} services={services} />
        </>
      );
      break;
    default:
      if (!result) {
        return null;
      }
      heading = diffHeading(result.config_file, result.diff, result.changed);
      body = (
        <>
          {result.notices.length > 0 && (
            <ul className="bw-Generate-notices" data-bw="generate-notices" aria-label="Notices">
              {result.notices.map((notice, index) => (
                <li key={index} data-bw="generate-notice">
                  {notice}
                </li>
              ))}
            </ul>
          )}
          {result.problems.length > 0 && (
            <p className="bw-Generate-message bw-mod-warning">
              <code>{result.config_file}</code> was written; validating it found:
            </p>
          )}
          <GenerateProblems problems={result.problems} services={services} />
          {result.changed && result.diff && (
            <DiffView diff={result.diff} file={result.config_file} />
          )}
        </>
      );
  }
  return (
    <section
      className="bw-Panel-section bw-Generate"
      data-bw="generate-result"
      data-state={generate.state}
      aria-label="Generate result"
      aria-busy={generate.busy}
    >
      <div className="bw-Generate-header">
        <h3 className="bw-Panel-heading" data-bw="generate-heading" aria-live="polite">
          {heading}
        </h3>
        {!generate.busy && (
          <button
            type="button"
            className="bw-Generate-dismiss"
            data-bw="generate-dismiss"
            aria-label="Dismiss the generate result"
            title="Dismiss"
            onClick={() => generate.dismiss()}
          >
            {'\u00d7'}
          </button>
        )}
      </div>
      {body}
    </section>
  );
}

function DiffView({ diff, file }: { diff: string; file: string }): JSX.Element {
  const lines = classifyDiff(diff);
  const { added, removed } = countChanges(lines);
  return (
    <pre
      className="bw-Diff"
      data-bw="generate-diff"
      data-added={added}
      data-removed={removed}
      tabIndex={0}
      aria-label={`Changes to ${file}: ${added} lines added, ${removed} removed`}
    >
      {lines.map((line, index) => (
        <span key={index} className={`bw-Diff-line bw-mod-${line.kind}`} data-kind={line.kind}>
          {line.text || ' '}
          {'\n'}
        </span>
      ))}
    </pre>
  );
}

/** Problems, each opening its file at its line (as the panel's problem list does). */
function GenerateProblems({
  problems,
  services
}: {
  problems: Problem[];
  services: PanelServices;
}): JSX.Element | null {
  if (problems.length === 0) {
    return null;
  }
  return (
    <ProblemItems
      problems={problems}
      open={(path, line) => services.open(path, line)}
      hook="generate-problem"
      label="Problems"
    />
  );
}
