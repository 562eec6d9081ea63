// Lints one model file: read-only analysis, no onnxruntime, no weight values (weights are not even
// read: readModelStructure skips every payload of a page or more; the few small constants a rule
// reads, shape targets and axes, are loaded when it reads them). Everything returned is plain data
// (no views into the file's bytes), so the model is garbage once this returns and linting a folder
// needs the memory of one model only.

import { readSync, closeSync } from 'node:fs';
import { relative, resolve, sep } from 'node:path';
import { ModelError, RuntimeError, UsageError } from '../errors.js';
import { openRegularFile } from '../input-file.js';
import type { Dim } from '../graph/shapes.js';
import { readModelStructure, releaseModel, type ModelFile } from '../onnx/model-io.js';
import type { GraphProto } from '../onnx/schema.js';
import { elementCount } from '../onnx/tensor.js';
import { analyzeModel, decideOrder, type Analysis, type Finding, type Tail } from '../rewrite/index.js';
import { layerOps, layerParams, type LinearLayer } from '../rewrite/linear.js';
import { analyzeSize, inputPins, tailPins } from '../size/analysis.js';
import { PIN_KINDS, type SizePin } from '../size/pin.js';
import { imageAxes, trySizePlan, withDeclaredBatch } from '../size/plan.js';
import { nodeLabel, percent, printable, thousands } from '../text.js';
import { NO_INPUT_SHAPES, type InputShapeSpec } from '../verify/input-shapes.js';
import { declaredInputs, resolveInputs, type DeclaredInput, type ResolvedInput } from '../verify/inputs.js';
import { readableSize } from './files.js';
import { RULES, type RuleId } from './rules.js';
import type { FileReport, FindingOf, LayerSummary, LintedInput, LintFinding, LintPin, RewritableTailProperties } from './types.js';

// --- helpers ---------------------------------------------------------------------------------------

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
  return { node: nodeLabel(l.nodes[0]!), op: layerOps(l), inFeatures: l.inFeatures, outFeatures: l.outFeatures, params: layerParams(l) };
}

const dimsOut = (s: readonly Dim[]): (number | string | null)[] => s.map((d) => d ?? null);

/** A finding; its message is one printable line, as every output format promises. */
function finding<R extends RuleId, P>(ruleId: R, message: string, node: string | null, properties: P): FindingOf<R, P> {
  return { ruleId, severity: RULES[ruleId].severity, message: printable(message), node, properties };
}

// --- rules -----------------------------------------------------------------------------------------

/** The finding for a rewritable tail: its words and costs are its rule's (src/rewrite/rules/). */
function tailFinding(tail: Tail, total: number): LintFinding {
  const m = tail.match;
  const { params, macs } = tail.cost();
  const headShare = total > 0 ? `head ${thousands(params)} of ${thousands(total)} params (${percent(params / total)})` : `head ${thousands(params)} params`;
  const described = tail.describe({ totalParams: total, headShare });
  const props: RewritableTailProperties = {
    tailKind: tail.kind, at: nodeLabel(m.at), featureShape: dimsOut(m.featureShape), layers: m.layers.map(layerSummary),
    headParams: params, totalParams: total, headShare: total > 0 ? params / total : null,
    macs,
    defaultOrder: decideOrder('auto', tail, false) ?? null,
  };
  return finding('rewritable-tail', described.message, nodeLabel(described.node), props);
}

function analysisFinding(f: Finding, total: number): LintFinding {
  if (f.kind === 'tail') return tailFinding(f.tail, total);
  if (f.kind === 'refused') {
    const at = nodeLabel(f.at);
    return finding('not-rewritable', `${f.rule} tail at '${at}' can't be rewritten exactly (${f.code}): ${f.reason}`, f.node ? nodeLabel(f.node) : at, { code: f.code, tailKind: f.rule, at });
  }
  const classes = f.classes ?? null;
  const [pool, conv] = [nodeLabel(f.pool), nodeLabel(f.conv)];
  return finding('already-gap-head', `already a global-average-pool head: Conv '${conv}'${classes !== null ? ` (${classes} classes)` : ''} → GlobalAveragePool '${pool}'; nothing to rewrite`, conv, { pool, conv, classes });
}

/** "224×224": the spatial size of the first image input, as analysed. */
function inputSize(inputs: readonly LintedInput[], declared: readonly DeclaredInput[]): number[] | null {
  for (const i of inputs) {
    const d = declared.find((x) => x.name === i.name);
    const image = d && imageAxes(d);
    if (i.shape && image) return [i.shape[image.hAxis]!, i.shape[image.wAxis]!];
  }
  return null;
}

const lintPin = (p: SizePin): LintPin => ({
  kind: p.kind, node: p.node ? nodeLabel(p.node) : null, ...(p.input !== undefined ? { input: p.input } : {}), detail: p.detail, fixedByRewrite: p.fixedByRewrite,
});

/** The pins in words; a kind with many pins (ShuffleNet's 16 channel shuffles) is summed up. */
function pinsText(pins: readonly LintPin[]): string {
  const parts: string[] = [];
  for (const kind of PIN_KINDS) {
    const group = pins.filter((p) => p.kind === kind);
    if (group.length <= 2) parts.push(...group.map((p) => p.detail));
    else parts.push(`${group[0]!.detail} (and ${group.length - 1} more: ${group.slice(1, 3).map((p) => `'${p.node ?? p.input}'`).join(', ')}${group.length > 3 ? ', …' : ''})`);
  }
  return parts.join('; ');
}

function pinFinding(sizePins: readonly SizePin[], size: number[] | null): LintFinding | undefined {
  if (sizePins.length === 0) return undefined;
  const pins = sizePins.map(lintPin);
  const fixedByRewrite = pins.every((p) => p.fixedByRewrite);
  const first = pins.find((p) => p.node !== null);
  const what = size ? `only ${size.join('×')} inputs` : 'only the input size it was exported at';
  const message = `the model accepts ${what}: ${pinsText(pins)}${fixedByRewrite ? ' — gapify --dynamic-size removes every pin' : ''}`;
  return finding('fixed-input-size', message, first?.node ?? null, { size, pins, fixedByRewrite });
}

/**
 * Every pin of the analysed model: its image inputs' fixed dims, what its tails pin, and — when
 * its inputs could be resolved — what the size analysis finds at a second size.
 */
export function modelPins(analysis: Analysis, declared: readonly DeclaredInput[], resolved: readonly ResolvedInput[] | undefined): SizePin[] {
  const known = [...inputPins(declared), ...tailPins(analysis.findings)];
  // The spatial size only: lint's finding is about the input size, not the batch.
  // (As --dynamic-size does, a batch the model declares symbolic stays free.)
  const plan = resolved && trySizePlan(analysis.file.model, resolved, { size: true, batch: false });
  if (!plan || typeof plan === 'string') return known;
  try {
    return [...analyzeSize(analysis.file.model, analysis.file.opset, withDeclaredBatch(plan), known).pins];
  } catch (e) {
    // A second size gapify won't feed (absurd dims): the pins known without it. Lint goes on.
    if (e instanceof UsageError) return known;
    throw e;
  }
}

// --- a file ----------------------------------------------------------------------------------------

export interface LintModelOptions {
  /** --input-shape specs; entries naming inputs a model lacks are ignored for that model. */
  inputShapes?: InputShapeSpec;
  /** Paths are shown relative to this folder (default: process.cwd()). */
  cwd?: string;
  /** Called with each model once read (lint's --output-file must be none of the files it reads). */
  onRead?: (file: ModelFile) => void;
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
function analysisDims(file: ModelFile, spec: InputShapeSpec): { declared: DeclaredInput[]; inputs: LintedInput[]; dims: Map<string, Dim[]> | undefined; resolved?: ResolvedInput[] } {
  const declared = declaredInputs(file.model);
  const mine = specFor(declared, spec);
  const asDeclared = declared.map((d) => ({ name: d.name, shape: null, declared: d.dims ? d.dims.map((x) => x.value ?? x.param ?? null) : null }));
  try {
    const resolved = resolveInputs(file.model, mine, { label: file.path });
    return {
      declared,
      inputs: resolved.map((r) => ({ name: r.name, shape: [...r.shape], declared: r.declared ? [...r.declared] : null })),
      dims: new Map(resolved.map((r) => [r.name, [...r.shape]])),
      resolved,
    };
  } catch (e) {
    const userGave = mine.byName.size > 0 || mine.unnamed !== undefined;
    if (e instanceof UsageError && userGave) throw e;
    if (e instanceof UsageError || e instanceof RuntimeError) return { declared, inputs: asDeclared, dims: undefined };
    throw e;
  }
}

/** The severity counts of a file's findings. */
export function counts(findings: readonly LintFinding[]): Pick<FileReport, 'errorCount' | 'warningCount' | 'infoCount'> {
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
    fd = openRegularFile(path).fd; // never blocks (a FIFO)
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
    model = readModelStructure(absolutePath); // a report is plain data: nothing of the model outlives it
  } catch (e) {
    if (e instanceof ModelError) return brokenReport(file, absolutePath, e, readableSize(absolutePath));
    throw e;
  }
  options.onRead?.(model);
  const bytes = model.bytes.length;
  try {
    const { declared, inputs, dims, resolved } = analysisDims(model, options.inputShapes ?? NO_INPUT_SHAPES);
    const analysis = analyzeModel(model, dims);
    const total = totalParams(model.model.graph!);
    const findings = analysis.findings.map((f) => analysisFinding(f, total));
    const pins = pinFinding(modelPins(analysis, declared, resolved), inputSize(inputs, declared));
    if (pins) findings.push(pins);
    return { file, absolutePath, bytes, parameters: total, inputs, findings, ...counts(findings) };
  } catch (e) {
    if (e instanceof ModelError) return brokenReport(file, absolutePath, e, bytes);
    throw e;
  } finally {
    releaseModel(model);
  }
}
