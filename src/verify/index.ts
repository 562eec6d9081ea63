// Verification with onnxruntime: which inputs to feed, running two models and comparing their
// outputs, and probing intermediate shapes. onnxruntime-node itself is imported on first use only.

export { NO_INPUT_SHAPES, parseInputShapes, type InputShapeSpec } from './input-shapes.js';
export {
  declaredInputs,
  DEFAULT_DIMS,
  DEFAULT_SEED,
  inputNotes,
  makeSeededInputs,
  mulberry32,
  ortDType,
  resolveDeclaredInputs,
  resolveInputs,
  seededData,
  type DeclaredDim,
  type DeclaredInput,
  type DimDefaults,
  type DimSource,
  type InputData,
  type OrtDType,
  type ResolvedInput,
  type ResolveOptions,
} from './inputs.js';
export {
  compareModels,
  compareTensors,
  comparisonFailures,
  DEFAULT_TOLERANCES,
  HALF_TOLERANCES,
  tolerancesFor,
  TINY,
  type CompareOptions,
  type Comparison,
  type OutputComparison,
  type TensorValue,
  type Tolerances,
} from './compare.js';
export { probeValues, type ProbedValue, type ProbeOptions } from './probe.js';
export { loadOrt, sourceLabel, SESSION_OPTIONS, type ModelSource } from './ort.js';
