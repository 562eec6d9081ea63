// gapify as a library: everything the CLI does, typed.

export { gapify, defaultOutputPath, analyzeWithProbe, VerificationFailed, type GapifyOptions, type GapifyReport, type Verification } from './gapify.js';
export { formatReport, formatComparison } from './report.js';
export { GapifyError, UsageError, ModelError, RuntimeError, VerificationError } from './errors.js';
export { readModel, readModelLazy, parseModel, releaseModel, encodeModel, stageModel, stageChunks, type ModelFile, type StagedFile } from './onnx/model-io.js';
export { decode, encode, encodeChunks } from './onnx/codec.js';
export { GraphView } from './graph/graph.js';
export { inferShapes, type Dim, type Shape, type ShapeInference } from './graph/shapes.js';
export { analyzeModel, rewriteModel, chooseOrder, ORDERS, REFUSALS, type Analysis, type Finding, type Refusal, type AlreadyGap, type Tail, type TailChange, type Order, type OrderOption, type RefusalCode } from './rewrite/index.js';
export { compareModels, parseInputShapes, probeValues, type Comparison, type ModelSource } from './verify/index.js';
export type * from './onnx/schema.js';
export { lint, lintModel, formatLint, failsAt, RULES, FORMATS, FAIL_ON, type LintResult, type LintOptions, type FileReport, type LintFinding, type LintFormat, type FailOn } from './lint/index.js';
export { classActivationMaps, renderCams, addCamOutputs, type CamResult, type CamOptions } from './cam/index.js';
export { dynamicSizeStep, inferAtSizes, planSizes, parseSize, type Size, type SizeReport } from './size/index.js';
