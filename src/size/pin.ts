// A pin: something that fixes the input size a model accepts. Found by the size analysis
// (src/size/analysis.ts) and by the tail rules (a spatial tail's weight fits one map size), shown
// by `gapify lint` (fixed-input-size) and `gapify --dynamic-size`.

import type { NodeProto } from '../onnx/schema.js';

/**
 *   - input:        a graph input declares fixed height/width dims (onnxruntime enforces them);
 *   - spatial-tail: a Flatten/Reshape feeds fully-connected layers from a C×H×W map, whose weight
 *                   fits one H×W (VGG, AlexNet);
 *   - fixed-pool:   an AveragePool/MaxPool whose kernel equals the map: global only at this size
 *                   (NIN's tail, or inside the backbone);
 *   - reshape:      a Reshape whose target holds the map size or batch (ShuffleNet's channel
 *                   shuffle) — freed by --dynamic-size where its dims can be computed;
 *   - size-constant: a Resize to constant sizes, a Slice with a constant range, or a Pad, Expand,
 *                   Tile or ConstantOfShape whose constant fits the trained size only;
 *   - other:        any other node that stops fitting at another size.
 */
export const PIN_KINDS = ['input', 'spatial-tail', 'fixed-pool', 'reshape', 'size-constant', 'other'] as const;
export type PinKind = (typeof PIN_KINDS)[number];

export interface SizePin {
  readonly kind: PinKind;
  /** The node that pins the size; null for a graph input. */
  readonly node: NodeProto | null;
  /** The graph input, for kind 'input'. */
  readonly input?: string;
  /** One sentence. */
  readonly detail: string;
  /** `gapify --dynamic-size` removes this pin (a spatial tail or fixed tail pool goes with any rewrite). */
  readonly fixedByRewrite: boolean;
  /** Who found it: static shape inference, or onnxruntime failing at another size. */
  readonly found: 'static' | 'onnxruntime';
}
