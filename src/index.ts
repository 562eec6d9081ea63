// gapify as a library: everything the CLI does, typed.

export { gapify, defaultOutputPath, type GapifyOptions } from './gapify.js';
export type { GapifyReport, Verification } from './result.js';
export { formatReport, formatComparison, reportJson } from './report.js';
export { GapifyError, UsageError, ModelError, RuntimeError, VerificationError, VerificationFailed, SizeLocked } from './errors.js';
export { readModel, readModelLazy, parseModel, releaseModel, encodeModel, stageModel, stageChunks, withModelSource, type ModelFile, type ModelSource, type StagedFile } from './onnx/model-io.js';
export { decode, encode, encodeChunks } from './onnx/codec.js';
export { GraphView } from './graph/graph.js';
export { inferShapes, type Dim, type Shape, type ShapeInference } from './graph/shapes.js';
export { analyzeModel, analyzeWithProbe, rewriteModel, decideOrder, ORDERS, REFUSALS, TAIL_RULES, type Analysis, type Finding, type Refusal, type AlreadyGap, type Tail, type TailChange, type TailMatch, type TailRule, type Order, type OrderOption, type RefusalCode } from './rewrite/index.js';
export { compareModels, parseInputShapes, probeValues, type Comparison } from './verify/index.js';
export type * from './onnx/schema.js';
export { lint, lintModel, formatLint, failsAt, RULES, FORMATS, FAIL_ON, type LintResult, type LintOptions, type FileReport, type LintFinding, type LintFormat, type FailOn } from './lint/index.js';
export { classActivationMaps, renderCams, addCamOutputs, type CamResult, type CamOptions } from './cam/index.js';
export { dynamicSizeStep, analyzeSize, analyzeRewritten, planSizes, parseSize, PIN_KINDS, type Size, type SizePin, type SizeReport, type SizeAnalysis } from './size/index.js';
