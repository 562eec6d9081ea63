// Lints one model file: read-only analysis, no onnxruntime, no weight values (big weights are not
// even read: onnx/lazy-file.ts). Everything returned is plain data (no views into the file's bytes), so
// the model is garbage once this returns and linting a folder needs the memory of one model only.

import { openSync, readSync, closeSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { ModelError, RuntimeError, UsageError } from '../errors.js';
import type { Dim } from '../graph/shapes.js';
import { layerParams, tailCost } from '../rewrite/cost.js';
import { countChange, thousands } from '../report.js';
import { readModelLazy, type ModelFile } from '../onnx/model-io.js';
import type { GraphProto } from '../onnx/schema.js';
import { elementCount } from '../onnx/tensor.js';
import { analyzeModel, chooseOrder, type Analysis, type RefusalCode, type Tail } from '../rewrite/index.js';
import type { LinearLayer } from '../rewrite/match.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from '../verify/input-shapes.js';
import { declaredInputs, resolveInputs, type DeclaredInput } from '../verify/inputs.js';
import { findPins, fmtDims, nodeLabel, PIN_KINDS, spatialAxes, type Pin } from './pins.js';
import { RULES, type RuleId, type Severity } from './rules.js';

// --- findings --------------------------------------------------------------------------------------

export interface LayerSummary {
  readonly node: string;
  /** 'Gemm', 'MatMul+Add', … */
  readonly op: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly params: number;
}

export interface MacSummary {
  /** Multiply-accumulates per sample of the tail's linear layers as they are; null: not applicable. */
  readonly before: number | null;
  /** After a conv-first rewrite (the 1×1 Conv on the whole map); null: size unknown / not applicable. */
  readonly convFirst: number | null;
  /** After a pool-first rewrite (the Conv on the pooled map); null: not applicable (spatial tails). */
  readonly poolFirst: number | null;
}

export interface RewritableTailProperties {
  readonly tailKind: Tail['kind'];
  /** The pool (global, pool-only) or Flatten (spatial) where the tail starts. */
  readonly at: string;
  /** Shape of the map the tail reads, at the analysed input size. */
  readonly featureShape: readonly (number | string | null)[];
  readonly layers: readonly LayerSummary[];
  /** Parameters of the tail's linear layers. */
  readonly headParams: number;
  /** Sum of all initializers' element counts. */
  readonly totalParams: number;
  /** headParams / totalParams (null when the model has no parameters). */
  readonly headShare: number | null;
  readonly macs: MacSummary;
  /** The order `gapify --order auto` picks; null where there is no choice (spatial, pool-only). */
  readonly defaultOrder: 'conv-first' | 'pool-first' | null;
}

export interface NotRewritableProperties {
  /** A stable reason code (src/rewrite/reasons.ts). */
  readonly code: RefusalCode;
  readonly tailKind: 'global' | 'spatial';
  readonly at: string;
}

export interface AlreadyGapProperties {
  readonly pool: string;
  readonly conv: string;
  readonly classes: number | null;
}

export interface FixedInputSizeProperties {
  /** Spatial dims of the (first image-like) input at the analysed size, e.g. [224, 224]; null if unknown. */
  readonly size: readonly number[] | null;
  readonly pins: readonly Pin[];
  /** Every pin goes away with gapify's rewrite. */
  readonly fixedByRewrite: boolean;
}

export interface BrokenModelProperties {
  readonly reason: string;
}

interface FindingOf<R extends RuleId, P> {
  readonly ruleId: R;
  readonly severity: Severity;
  /** One line. */
  readonly message: string;
  /** The node the finding is about (null: the whole file). */
  readonly node: string | null;
  readonly properties: P;
}

export type LintFinding =
  | FindingOf<'rewritable-tail', RewritableTailProperties>
  | FindingOf<'not-rewritable', NotRewritableProperties>
  | FindingOf<'already-gap-head', AlreadyGapProperties>
  | FindingOf<'fixed-input-size', FixedInputSizeProperties>
  | FindingOf<'broken-model', BrokenModelProperties>;

export interface LintedInput {
  readonly name: string;
  /** Dims the analysis used (declared, --input-shape, or defaulted); null: rank unknown. */
  readonly shape: readonly number[] | null;
  /** As declared: a size, a symbol, or null (unknown); null: rank unknown. */
  readonly declared: readonly (number | string | null)[] | null;
}

export interface FileReport {
  /** The path as shown: relative to the working folder, '/'-separated (absolute when outside it). */
  readonly file: string;
  readonly absolutePath: string;
  /** File size; null when it could not be read. */
  readonly bytes: number | null;
  /** Sum of the initializers' element counts; null for a broken model. */
  readonly parameters: number | null;
  readonly inputs: readonly LintedInput[];
  readonly findings: readonly LintFinding[];
  readonly errorCount: number;
  readonly warningCount: number;
  readonly infoCount: number;
}

// --- helpers ---------------------------------------------------------------------------------------

const fmtInt = thousands;
const pct = (x: number): string => `${(x * 100).toFixed(x < 0.001 ? 2 : 1)}%`;

const change = countChange;

/** The path as shown to the user and put in SARIF: relative to `cwd` with '/', unless outside it. */
export function displayPath(abs: string, cwd: string): string {
  const rel = relative(cwd, abs);
  if (rel === '' || rel.startsWith('..') || resolve(cwd, rel) !== abs) return abs.split(sep).join('/');
  return rel.split(sep).join('/');
}

function totalParams(graph: GraphProto): number {
  let n = 0;
  for (const t of graph.initializer) n += elementCount(t.dims);
  for (const s of graph.sparse_initializer) n += elementCount(s.dims);
  return n;
}

function layerSummary(l: LinearLayer): LayerSummary {
  return { node: nodeLabel(l.nodes[0]!), op: l.nodes.map((n) => n.op_type).join('+'), inFeatures: l.inFeatures, outFeatures: l.outFeatures, params: layerParams(l) };
}

const dimsOut = (s: readonly Dim[]): (number | string | null)[] => s.map((d) => d ?? null);

function finding<R extends RuleId, P>(ruleId: R, message: string, node: string | null, properties: P): FindingOf<R, P> {
  return { ruleId, severity: RULES[ruleId].severity, message, node, properties };
}

// --- rules -----------------------------------------------------------------------------------------

/** The finding for a rewritable tail; its costs come from rewrite/cost.ts (see the equations there). */
function tailFinding(tail: Tail, total: number): LintFinding {
  const shareOf = (p: number): number | null => (total > 0 ? p / total : null);
  const shareText = (p: number): string => (total > 0 ? `head ${fmtInt(p)} of ${fmtInt(total)} params (${pct(p / total)})` : `head ${fmtInt(p)} params`);
  if (tail.kind === 'global') {
    const layer = layerSummary(tail.linear);
    const { macs: costs } = tailCost(tail);
    const macs = costs.before!;
    const props: RewritableTailProperties = {
      tailKind: 'global', at: nodeLabel(tail.pool.node), featureShape: dimsOut(tail.featureShape), layers: [layer],
      headParams: layer.params, totalParams: total, headShare: shareOf(layer.params),
      macs: costs,
      defaultOrder: chooseOrder(tail, 'auto'),
    };
    const message = `${tail.pool.node.op_type} '${props.at}' → ${layer.op} '${layer.node}' (${layer.inFeatures}→${layer.outFeatures}) can be rewritten exactly into 1×1 Conv + GlobalAveragePool; `
      + `${shareText(layer.params)}; MACs/sample ${fmtInt(macs)} → pool-first ${change(macs, macs)}, conv-first ${change(macs, props.macs.convFirst)} on a ${fmtDims(tail.featureShape.slice(1))} map`;
    return finding('rewritable-tail', message, layer.node, props);
  }
  if (tail.kind === 'spatial') {
    const layers = tail.layers.map(layerSummary);
    const { params, macs: costs } = tailCost(tail);
    const macs = costs.before!;
    const at = nodeLabel(tail.flatten);
    const props: RewritableTailProperties = {
      tailKind: 'spatial', at, featureShape: dimsOut(tail.featureShape), layers,
      headParams: params, totalParams: total, headShare: shareOf(params),
      macs: costs,
      defaultOrder: null,
    };
    const [h, w] = tail.featureShape.slice(2);
    const message = `${tail.flatten.op_type} '${at}' of a ${fmtDims(tail.featureShape.slice(1))} map → ${layers.length} linear layer${layers.length > 1 ? 's' : ''} can be rewritten exactly into `
      + `Conv ${h ?? '?'}×${w ?? '?'}${layers.length > 1 ? ` + ${layers.length - 1}× Conv 1×1` : ''} + GlobalAveragePool; ${shareText(params)}; MACs/sample ${fmtInt(macs)} (unchanged at this size)`;
    return finding('rewritable-tail', message, at, props);
  }
  const at = nodeLabel(tail.pool.node);
  const props: RewritableTailProperties = {
    tailKind: 'pool-only', at, featureShape: dimsOut(tail.featureShape), layers: [],
    headParams: 0, totalParams: total, headShare: shareOf(0),
    macs: tailCost(tail).macs,
    defaultOrder: null,
  };
  const message = `${tail.pool.node.op_type} '${at}' covers its whole ${fmtDims(tail.featureShape.slice(2))} map and can be rewritten exactly into a GlobalAveragePool (then right at any input size)`;
  return finding('rewritable-tail', message, at, props);
}

function analysisFindings(analysis: Analysis, total: number): LintFinding[] {
  return analysis.findings.map((f): LintFinding => {
    if (f.kind === 'tail') return tailFinding(f.tail, total);
    if (f.kind === 'refused') {
      return finding('not-rewritable', `${f.tailKind} tail at '${f.at}' can't be rewritten exactly (${f.code}): ${f.reason}`, f.node ?? f.at, { code: f.code, tailKind: f.tailKind, at: f.at });
    }
    const classes = f.classes ?? null;
    return finding('already-gap-head', `already a global-average-pool head: Conv '${f.conv}'${classes !== null ? ` (${classes} classes)` : ''} → GlobalAveragePool '${f.pool}'; nothing to rewrite`, f.conv, { pool: f.pool, conv: f.conv, classes });
  });
}

/** "224×224": the spatial size of the first image-like input, as analysed. */
function inputSize(inputs: readonly LintedInput[], declared: readonly DeclaredInput[]): number[] | null {
  for (const i of inputs) {
    const d = declared.find((x) => x.name === i.name);
    if (!i.shape || !d?.dims) continue;
    const axes = spatialAxes(d.dims);
    if (axes.length) return axes.map((a) => i.shape![a]!);
  }
  return null;
}

/** The pins in words; a kind with many pins (ShuffleNet's 16 channel shuffles) is summed up. */
function pinsText(pins: readonly Pin[]): string {
  const parts: string[] = [];
  for (const kind of PIN_KINDS) {
    const group = pins.filter((p) => p.kind === kind);
    if (group.length <= 2) parts.push(...group.map((p) => p.detail));
    else parts.push(`${group[0]!.detail} (and ${group.length - 1} more: ${group.slice(1, 3).map((p) => `'${p.node ?? p.input}'`).join(', ')}${group.length > 3 ? ', …' : ''})`);
  }
  return parts.join('; ');
}

function pinFinding(pins: readonly Pin[], size: number[] | null): LintFinding | undefined {
  if (pins.length === 0) return undefined;
  const fixedByRewrite = pins.every((p) => p.fixedByRewrite);
  const first = pins.find((p) => p.node !== null);
  const what = size ? `only ${size.join('×')} inputs` : 'only the input size it was exported at';
  const message = `the model accepts ${what}: ${pinsText(pins)}${fixedByRewrite ? ' — gapify\'s rewrite removes every pin' : ''}`;
  return finding('fixed-input-size', message, first?.node ?? null, { size, pins, fixedByRewrite });
}

// --- a file ----------------------------------------------------------------------------------------

export interface LintModelOptions {
  /** --input-shape specs; entries naming inputs a model lacks are ignored for that model. */
  inputShapes?: InputShapeSpec;
  /** Paths are shown relative to this folder (default: process.cwd()). */
  cwd?: string;
}

/** The specs that concern this model: named ones for its inputs, an unnamed one if it has one input. */
function specFor(inputs: readonly DeclaredInput[], spec: InputShapeSpec): InputShapeSpec {
  const names = new Set(inputs.map((i) => i.name));
  const byName = new Map([...spec.byName].filter(([n]) => names.has(n)));
  return spec.unnamed !== undefined && inputs.length === 1 ? { byName, unnamed: spec.unnamed } : { byName };
}

/**
 * Input dims for the analysis: as rewrite/verify would feed them. A model whose inputs gapify
 * can't feed (no declared rank, non-tensor) is still linted, with its declared shapes only. A
 * --input-shape that contradicts the model is a usage error.
 */
function analysisDims(file: ModelFile, spec: InputShapeSpec): { inputs: LintedInput[]; dims: Map<string, Dim[]> | undefined } {
  const declared = declaredInputs(file.model);
  const mine = specFor(declared, spec);
  const asDeclared = declared.map((d) => ({ name: d.name, shape: null, declared: d.dims ? d.dims.map((x) => x.value ?? x.param ?? null) : null }));
  try {
    const resolved = resolveInputs(file.model, mine, { label: file.path });
    return {
      inputs: resolved.map((r) => ({ name: r.name, shape: [...r.shape], declared: r.declared ? [...r.declared] : null })),
      dims: new Map(resolved.map((r) => [r.name, [...r.shape]])),
    };
  } catch (e) {
    const userGave = mine.byName.size > 0 || mine.unnamed !== undefined;
    if (e instanceof UsageError && userGave) throw e;
    if (e instanceof UsageError || e instanceof RuntimeError) return { inputs: asDeclared, dims: undefined };
    throw e;
  }
}

function counts(findings: readonly LintFinding[]): Pick<FileReport, 'errorCount' | 'warningCount' | 'infoCount'> {
  let errorCount = 0;
  let warningCount = 0;
  let infoCount = 0;
  for (const f of findings) {
    if (f.severity === 'error') errorCount++;
    else if (f.severity === 'warning') warningCount++;
    else infoCount++;
  }
  return { errorCount, warningCount, infoCount };
}

const LFS_POINTER = 'version https://git-lfs.github.com/spec/';

/** A Git LFS pointer checked out instead of the model: say so, it is the usual CI mistake. */
function lfsPointer(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(LFS_POINTER.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.toString('latin1') === LFS_POINTER;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function brokenReport(file: string, absolutePath: string, e: ModelError, bytes: number | null): FileReport {
  const reason = lfsPointer(absolutePath) ? 'a Git LFS pointer, not the model (fetch LFS objects: git lfs pull, or actions/checkout with lfs: true)' : e.reason;
  const findings = [finding('broken-model', reason, null, { reason })];
  return { file, absolutePath, bytes, parameters: null, inputs: [], findings, ...counts(findings) };
}

/** Lints one model. A file that can't be read as a model gives a broken-model finding, not an error. */
export function lintModel(path: string, options: LintModelOptions = {}): FileReport {
  const absolutePath = resolve(path);
  const file = displayPath(absolutePath, options.cwd ?? process.cwd());
  let model: ModelFile;
  try {
    model = readModelLazy(absolutePath, { keepOpen: false });
  } catch (e) {
    if (e instanceof ModelError) return brokenReport(file, absolutePath, e, null);
    throw e;
  }
  const bytes = model.bytes.length;
  try {
    const { inputs, dims } = analysisDims(model, options.inputShapes ?? NO_INPUT_SHAPES);
    const analysis = analyzeModel(model, dims);
    const total = totalParams(model.model.graph!);
    const findings = analysisFindings(analysis, total);
    const declared = declaredInputs(model.model);
    const pins = pinFinding(findPins(analysis, declared, dims), inputSize(inputs, declared));
    if (pins) findings.push(pins);
    return { file, absolutePath, bytes, parameters: total, inputs, findings, ...counts(findings) };
  } catch (e) {
    if (e instanceof ModelError) return brokenReport(file, absolutePath, e, bytes);
    throw e;
  }
}
