// `--input-shape` specs, in onnxsim's syntax: `NAME:D1,D2,...` or, for a model with a single input,
// just `D1,D2,...`. The flag is repeatable (one spec per input).
//
// Input names may themselves contain ':' (tf2onnx names inputs `input:0`), so a spec is split on
// its LAST ':' — a dims list never contains one — and only when the text right of it is a dims list:
// `input:0:1,3,224,224` is input `input:0` with dims [1, 3, 224, 224].

import { UsageError } from '../errors.js';

/** Parsed `--input-shape` specs. */
export interface InputShapeSpec {
  /** Dims given for a named input. */
  readonly byName: ReadonlyMap<string, readonly number[]>;
  /** Dims given without a name (only valid for a model with a single input). */
  readonly unnamed?: readonly number[];
}

/** No specs: every unknown dim gets its default. */
export const NO_INPUT_SHAPES: InputShapeSpec = { byName: new Map() };

const DIMS_RE = /^\s*\d+(\s*,\s*\d+)*\s*$/;
const EXAMPLE = 'expected NAME:D1,D2,... or D1,D2,... (e.g. input:1,3,224,224)';

function parseDims(text: string, spec: string): number[] {
  const dims = text.split(',').map((d) => Number(d.trim()));
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 1) {
      throw new UsageError(`--input-shape '${spec}': dimension ${d} is not a positive integer`);
    }
  }
  return dims;
}

/** Parses repeated `--input-shape` values. Bad syntax, a name given twice, or an unnamed spec next to others → UsageError. */
export function parseInputShapes(specs: readonly string[]): InputShapeSpec {
  const byName = new Map<string, number[]>();
  let unnamed: number[] | undefined;
  for (const spec of specs) {
    const colon = spec.lastIndexOf(':');
    const right = colon >= 0 ? spec.slice(colon + 1) : spec;
    if (!DIMS_RE.test(right)) {
      throw new UsageError(`--input-shape '${spec}': ${EXAMPLE}`);
    }
    const dims = parseDims(right, spec);
    if (colon < 0) {
      if (unnamed !== undefined) throw new UsageError(`--input-shape '${spec}': only one spec can omit the input name`);
      unnamed = dims;
      continue;
    }
    const name = spec.slice(0, colon).trim();
    if (name === '') throw new UsageError(`--input-shape '${spec}': empty input name (${EXAMPLE})`);
    if (byName.has(name)) throw new UsageError(`--input-shape: input '${name}' is given twice`);
    byName.set(name, dims);
  }
  if (unnamed !== undefined && byName.size > 0) {
    throw new UsageError(`--input-shape: a spec without an input name can't be combined with named ones`);
  }
  return unnamed === undefined ? { byName } : { byName, unnamed };
}
