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

import { GraphView, nodeLabel } from '../graph/graph.js';
import { inferShapes, type Dim } from '../graph/shapes.js';
import { makeNode, makeValueInfo } from '../onnx/builder.js';
import type { ModelProto, NodeProto } from '../onnx/schema.js';
import type { AlreadyGap, Tail, TailChange } from '../rewrite/index.js';

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
  readonly at: string;
  readonly reason: string;
}

export interface CamOutputs {
  readonly model: ModelProto;
  readonly cams: CamOutput[];
  readonly skipped: CamSkip[];
}

const label = nodeLabel;
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

function maps(changes: readonly TailChange[], tails: readonly Tail[], alreadyGap: readonly AlreadyGap[], graph: GraphView): { found: Omit<CamOutput, 'name' | 'shape'>[]; skipped: CamSkip[] } {
  const found: Omit<CamOutput, 'name' | 'shape'>[] = [];
  const skipped: CamSkip[] = [];
  changes.forEach((c, i) => {
    const tail = tails[i];
    if (c.kind === 'pool-only' || tail?.kind === 'pool-only') {
      skipped.push({ at: c.at, reason: 'no linear layer after the pool: its map is features, not classes' });
    } else if (tail && !tail.finalScores) {
      skipped.push({ at: c.at, reason: `'${c.output}' is not the final scores (a nonlinearity and more layers follow, as in an MLP head): maps before the pool would be hidden units, not classes` });
    } else if (!c.classMap) {
      skipped.push({ at: c.at, reason: 'pool-first: the 1×1 Conv runs on the pooled vector, so there is no map (use --order conv-first)' });
    } else {
      found.push({ classMap: c.classMap, scores: c.output, source: 'rewritten' });
    }
  });
  for (const g of alreadyGap) {
    const gap = graph.nodes.find((n) => label(n) === g.pool);
    if (!gap?.input[0]) {
      skipped.push({ at: g.pool, reason: 'the global pool of the GAP head was not found' });
      continue;
    }
    found.push({ classMap: gap.input[0], scores: headScores(graph, gap), source: 'gap-head' });
  }
  return { found, skipped };
}

const toDecl = (d: Dim): number | string | null => (d === undefined ? null : d);

/**
 * Adds an Identity `<scores>_cam` graph output for each class map of `model` (the rewritten model;
 * `changes` and `tails` in the order rewriteModel applied them). Nothing to expose: model unchanged.
 */
export function addCamOutputs(model: ModelProto, opset: number, changes: readonly TailChange[], tails: readonly Tail[], alreadyGap: readonly AlreadyGap[] = []): CamOutputs {
  const graph = new GraphView(model.graph!, opset);
  const { found, skipped } = maps(changes, tails, alreadyGap, graph);
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
