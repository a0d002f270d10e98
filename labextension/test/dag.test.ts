import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  type DagNode,
  describeStage,
  edgePath,
  GEOMETRY,
  layerOf,
  layoutDag,
  truncate
} from '../src/dag';

function node(name: string, kind: DagNode['kind'] = 'batch', runOnFailure = false): DagNode {
  return { name, kind, path: `p/${name}.ipynb`, run_on_failure: runOnFailure };
}

test('a stage sits one layer below its deepest dependency', () => {
  const layer = layerOf(
    ['prepare', 'train', 'predict', 'report', 'late'],
    [
      { from: 'prepare', to: 'train' },
      { from: 'train', to: 'predict' },
      { from: 'train', to: 'report' },
      { from: 'prepare', to: 'late' },
      { from: 'report', to: 'late' }
    ]
  );
  assert.deepEqual(Object.fromEntries(layer), {
    prepare: 0,
    train: 1,
    predict: 2,
    report: 2,
    late: 3
  });
});

test('unknown stages and self edges are ignored; a cycle still gets a layer', () => {
  const layer = layerOf(
    ['a', 'b', 'c'],
    [
      { from: 'ghost', to: 'a' },
      { from: 'a', to: 'a' },
      { from: 'b', to: 'c' },
      { from: 'c', to: 'b' }
    ]
  );
  assert.equal(layer.get('a'), 0);
  assert.equal(layer.get('b'), 1);
  assert.equal(layer.get('c'), 1);
});

test('the layout places every stage, layer by layer, and the run-on-failure stage last', () => {
  const layout = layoutDag({
    nodes: [node('prepare'), node('train'), node('predict', 'service'), node('alert', 'batch', true)],
    edges: [
      { from: 'prepare', to: 'train' },
      { from: 'train', to: 'predict' }
    ]
  });
  assert.deepEqual(
    layout.nodes.map(n => [n.name, n.layer]),
    [
      ['prepare', 0],
      ['train', 1],
      ['predict', 2],
      ['alert', 3]
    ]
  );
  assert.equal(layout.layers, 4);
  assert.equal(layout.edges.length, 2);
  const train = layout.nodes[1];
  assert.deepEqual(train.dependsOn, ['prepare']);
  const edge = layout.edges[0];
  assert.equal(edge.y1, layout.nodes[0].y + GEOMETRY.nodeHeight);
  assert.equal(edge.y2, train.y);
  assert.match(edgePath(edge), /^M [\d.]+ [\d.]+ C /);
});

test('within a layer, stages follow where their dependencies are', () => {
  const layout = layoutDag({
    nodes: [node('a'), node('b'), node('from_b'), node('from_a')],
    edges: [
      { from: 'a', to: 'from_a' },
      { from: 'b', to: 'from_b' }
    ]
  });
  const second = layout.nodes.filter(n => n.layer === 1).map(n => n.name);
  assert.deepEqual(second, ['from_a', 'from_b']);
  const x = Object.fromEntries(layout.nodes.map(n => [n.name, n.x]));
  assert.equal(x.from_a, x.a);
  assert.equal(x.from_b, x.b);
});

test('no two boxes overlap and the drawing holds them all', () => {
  const nodes = Array.from({ length: 60 }, (_, i) => node(`s${i}`));
  const edges = nodes.slice(1).map((n, i) => ({ from: `s${Math.floor(i / 3)}`, to: n.name }));
  const layout = layoutDag({ nodes, edges });
  const seen = new Set(layout.nodes.map(n => `${n.x},${n.y}`));
  assert.equal(seen.size, nodes.length);
  for (const n of layout.nodes) {
    assert.ok(n.x >= 0 && n.x + GEOMETRY.nodeWidth <= layout.width);
    assert.ok(n.y >= 0 && n.y + GEOMETRY.nodeHeight <= layout.height);
  }
});

test('300 stages lay out quickly', () => {
  const nodes = Array.from({ length: 300 }, (_, i) => node(`stage_${i}`));
  const edges = nodes.flatMap((n, i) =>
    i === 0 ? [] : [{ from: `stage_${Math.floor((i - 1) / 2)}`, to: n.name }, { from: 'stage_0', to: n.name }]
  );
  const started = performance.now();
  const layout = layoutDag({ nodes, edges });
  const took = performance.now() - started;
  assert.equal(layout.nodes.length, 300);
  assert.ok(took < 100, `took ${took} ms`);
});

test('an empty pipeline lays out as an empty drawing', () => {
  const layout = layoutDag({ nodes: [], edges: [] });
  assert.equal(layout.nodes.length, 0);
  assert.equal(layout.layers, 0);
});

test('a stage is described for a screen reader', () => {
  const layout = layoutDag({
    nodes: [node('prepare'), node('predict', 'service')],
    edges: [{ from: 'prepare', to: 'predict' }]
  });
  assert.equal(
    describeStage(layout.nodes[1]),
    'predict: service stage, depends on prepare, opens p/predict.ipynb'
  );
  assert.equal(
    describeStage(layout.nodes[0]),
    'prepare: batch stage, no dependencies, opens p/prepare.ipynb'
  );
});

test('long names are cut with an ellipsis', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('a_very_long_stage_name', 10), 'a_very_lo\u2026');
});
