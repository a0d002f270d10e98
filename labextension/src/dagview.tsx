/**
 * The DAG drawn as SVG: a box per stage (its name and kind), an arrow per dependency.
 * One tab stop for the whole drawing; the arrow keys move between stages (layer by layer),
 * Enter or Space opens the stage's notebook.
 */

import * as React from 'react';

import type { StageStatus } from './api';
import { type DagLayout, describeDag, describeStage, edgePath, GEOMETRY, truncate } from './dag';
import { stageTone, statusText } from './runstatus';

export interface DagViewProps {
  pipeline: string;
  layout: DagLayout;
  onOpen: (path: string) => void;
  /** The followed run's stages (their status colours the boxes); undefined: no run. */
  statuses?: ReadonlyMap<string, StageStatus>;
}

const NAME_CHARS = 16;
const KIND_CHARS = 21;
/** A drawing wider than the panel is shrunk down to this scale, then scrolls. */
const MIN_SCALE = 0.8;

export function DagView({ pipeline, layout, onOpen, statuses }: DagViewProps): JSX.Element {
  const [focused, setFocused] = React.useState(0);
  const nodeRefs = React.useRef<(SVGGElement | null)[]>([]);
  const current = Math.min(focused, Math.max(0, layout.nodes.length - 1));
  const { nodeWidth, nodeHeight } = GEOMETRY;

  const moveTo = (index: number) => {
    const next = Math.max(0, Math.min(layout.nodes.length - 1, index));
    setFocused(next);
    nodeRefs.current[next]?.focus();
  };

  const onKeyDown = (event: React.KeyboardEvent, index: number) => {
    const node = layout.nodes[index];
    switch (event.key) {
      case 'ArrowRight':
      case 'ArrowDown':
        moveTo(index + 1);
        break;
      case 'ArrowLeft':
      case 'ArrowUp':
        moveTo(index - 1);
        break;
      case 'Home':
        moveTo(0);
        break;
      case 'End':
        moveTo(layout.nodes.length - 1);
        break;
      case 'Enter':
      case ' ':
        onOpen(node.path);
        break;
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
  };

  return (
    <div className="bw-Dag" data-bw="dag">
      <svg
        className="bw-Dag-svg"
        role="group"
        aria-label={describeDag(pipeline, layout)}
        width={layout.width}
        height={layout.height}
        style={{
          width: '100%',
          maxWidth: layout.width,
          minWidth: Math.ceil(layout.width * MIN_SCALE),
          height: 'auto'
        }}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        data-stages={layout.nodes.length}
      >
        <defs>
          <marker
            id="bw-Dag-arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path className="bw-Dag-arrowHead" d="M 0 0 L 10 5 L 0 10 z" />
          </marker>
        </defs>
        <g className="bw-Dag-edges" aria-hidden="true">
          {layout.edges.map(edge => (
            <path
              key={`${edge.from}->${edge.to}`}
              className="bw-Dag-edge"
              d={edgePath(edge)}
              markerEnd="url(#bw-Dag-arrow)"
              data-from={edge.from}
              data-to={edge.to}
            />
          ))}
        </g>
        <g className="bw-Dag-nodes">
          {layout.nodes.map((node, index) => {
            // with a run followed, every stage has a status (pending until it starts)
            const row = statuses ? statuses.get(node.name) : undefined;
            const status = statuses ? (row?.status ?? 'pending') : undefined;
            const kind = node.run_on_failure ? `${node.kind} \u00b7 on failure` : node.kind;
            const said = status ? statusText(status, row?.attempt ?? 0) : '';
            return (
              <g
                key={node.name}
                ref={element => {
                  nodeRefs.current[index] = element;
                }}
                className={
                  `bw-DagNode bw-mod-${node.kind}` +
                  (node.run_on_failure ? ' bw-mod-onFailure' : '') +
                  (status
                    ? ` bw-mod-status bw-mod-status-${status} bw-mod-tone-${stageTone(status)}`
                    : '')
                }
                transform={`translate(${node.x}, ${node.y})`}
                role="button"
                tabIndex={index === current ? 0 : -1}
                aria-label={status ? `${describeStage(node)}, status ${said}` : describeStage(node)}
                data-stage={node.name}
                data-kind={node.kind}
                data-layer={node.layer}
                data-path={node.path}
                data-status={status}
                onClick={() => {
                  setFocused(index);
                  onOpen(node.path);
                }}
                onFocus={() => setFocused(index)}
                onKeyDown={event => onKeyDown(event, index)}
              >
                <title>
                  {`${node.name} (${node.kind}) - ${node.path}` + (status ? ` - ${said}` : '')}
                </title>
                <rect className="bw-DagNode-box" width={nodeWidth} height={nodeHeight} rx="4" />
                <rect className="bw-DagNode-band" width="4" height={nodeHeight} rx="2" />
                <text className="bw-DagNode-name" x="12" y="17">
                  {truncate(node.name, NAME_CHARS)}
                </text>
                <text className="bw-DagNode-kind" x="12" y="33">
                  {status ? truncate(`${node.kind} \u00b7 ${said}`, KIND_CHARS) : kind}
                </text>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}
