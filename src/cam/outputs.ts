// --cam: expose the class activation maps of a NIN head as graph outputs.
//
//   X ─ Conv1x1 ─ classMap [N, K, h, w] ─ GlobalAveragePool ─ Flatten ─ <output> [N, K]
//                    └─ Identity ─ <output>_cam [N, K, h, w]        (new graph output)
//
// The class map is the tensor the global pool averages, so <output>[n, k] is exactly the mean of
// <output>_cam[n, k] (Zhou et al., "Learning Deep Features for Discriminative Localization", 2016:
// the CAM of a GAP network, computed by the network itself). Maps exist where the rewritten layer
// yields the final scores and the conv runs before the pool (conv-first, spatial tails), and in
// heads that already were Conv → GlobalAveragePool (SqueezeNet, NIN). A pool-first tail has no map:
// its Conv sees the pooled vector. The first layer of an MLP head has maps of hidden units, not of
// classes: not exposed either.

import { GraphView } from '../graph/graph.js';
import { inferShapes, type Dim } from '../graph/shapes.js';
import { makeNode, makeValueInfo } from '../onnx/builder.js';
import type { ModelProto, NodeProto } from '../onnx/schema.js';
import type { AlreadyGap, TailChange } from '../rewrite/index.js';

/** A class-map output added by --cam. */
export interface CamOutput {
  /** The new graph output, `<scores>_cam`. */
  readonly name: string;
  /** The value it copies: the map the global pool averages. */
  readonly classMap: string;
  /** The scores that are the maps' spatial means (the rewritten tail's output, or the GAP head's). */
  readonly scores: string;
  /** [N, K, h, w] at the analysed size (a symbol or null where unknown). */
  readonly shape: (number | string | null)[] | undefined;
  readonly source: 'rewritten' | 'gap-head';
}

/** A tail --cam could not give a map, and why. */
export interface CamSkip {
  /** Where the tail starts (its pool or Flatten). */
  readonly at: NodeProto;
  readonly reason: string;
}

export interface CamOutputs {
  readonly model: ModelProto;
  readonly cams: CamOutput[];
  readonly skipped: CamSkip[];
}

const FLATTENING = new Set(['Flatten', 'Reshape', 'Squeeze']);

/** Where a GAP head's scores are: the GAP output, through Flatten/Reshape/Squeeze with one reader each. */
function headScores(graph: GraphView, gap: NodeProto): string {
  let v = gap.output[0] ?? '';
  for (let hops = 0; hops < 4; hops++) {
    const readers = graph.consumers(v);
    if (readers.length !== 1 || !FLATTENING.has(readers[0]!.op_type ?? '')) break;
    v = readers[0]!.output[0] ?? v;
  }
  return v;
}

function maps(changes: readonly TailChange[], alreadyGap: readonly AlreadyGap[], graph: GraphView): { found: Omit<CamOutput, 'name' | 'shape'>[]; skipped: CamSkip[] } {
  const found: Omit<CamOutput, 'name' | 'shape'>[] = [];
  const skipped: CamSkip[] = [];
  for (const c of changes) {
    const answer = c.tail.classMap(c);
    if ('none' in answer) skipped.push({ at: c.tail.match.at, reason: answer.none });
    else found.push({ classMap: answer.map, scores: c.tail.match.output, source: 'rewritten' });
  }
  for (const g of alreadyGap) {
    const gap = g.pool;
    if (!gap.input[0] || !graph.nodes.includes(gap)) {
      skipped.push({ at: gap, reason: 'the global pool of the GAP head was not found' });
      continue;
    }
    found.push({ classMap: gap.input[0], scores: headScores(graph, gap), source: 'gap-head' });
  }
  return { found, skipped };
}

const toDecl = (d: Dim): number | string | null => (d === undefined ? null : d);

/**
 * Adds an Identity `<scores>_cam` graph output for each class map of `model`, the model rewriteModel
 * made with `changes`. Nothing to expose: model unchanged.
 */
export function addCamOutputs(model: ModelProto, opset: number, changes: readonly TailChange[], alreadyGap: readonly AlreadyGap[] = []): CamOutputs {
  const graph = new GraphView(model.graph!, opset);
  const { found, skipped } = maps(changes, alreadyGap, graph);
  if (found.length === 0) return { model, cams: [], skipped };
  // Shapes with the declared input dims, so a symbolic batch stays symbolic in the new outputs.
  const shapes = inferShapes(graph);
  const cams: CamOutput[] = [];
  for (const f of found) {
    const name = graph.uniqueName(`${f.scores}_cam`);
    const node = makeNode('Identity', [f.classMap], [name], {}, graph.uniqueName(`gapify/cam/${f.scores}`));
    graph.insertAfter(graph.producer(f.classMap), [node]);
    const shape = shapes.shapes.get(f.classMap);
    const elemType = shapes.elemTypes.get(f.classMap) ?? graph.declaredElemType(f.scores) ?? 1;
    graph.outputs = [...graph.outputs, makeValueInfo(name, elemType, shape?.map((d) => d))];
    graph.invalidate();
    cams.push({ ...f, name, shape: shape?.map(toDecl) });
  }
  return { model: { ...model, graph: graph.toProto() }, cams, skipped };
}
