// Errors a user can act on. The CLI prints their message on one line and exits with `exitCode`;
// anything else is a bug and prints its stack.

export abstract class GapifyError extends Error {
  abstract readonly exitCode: 1 | 2;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad flags or arguments. */
export class UsageError extends GapifyError {
  readonly exitCode = 2 as const;
}

/** The model file can't be read, isn't ONNX, or is inconsistent. Always names the file. */
export class ModelError extends GapifyError {
  readonly exitCode = 2 as const;
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`${file}: ${reason}`, options);
  }
}

/** onnxruntime could not run a model (or the inputs gapify would feed it). */
export class RuntimeError extends GapifyError {
  readonly exitCode = 2 as const;
}

/** The rewritten model's outputs differ from the original's. Nothing was written. */
export class VerificationError extends GapifyError {
  readonly exitCode = 1 as const;
}

// The two below carry the run's report (a GapifyReport, src/result.ts) so the CLI can still print
// it. The report's type is a parameter: this module is imported by everything and imports nothing.

/** Verification failed: nothing was written. */
export class VerificationFailed<Report = unknown> extends VerificationError {
  constructor(message: string, readonly report: Report) {
    super(message);
  }
}

/** --dynamic-size on a model whose input size is pinned (without --allow-fixed-size): nothing was written. */
export class SizeLocked<Report = unknown> extends VerificationError {
  constructor(message: string, readonly report: Report) {
    super(message);
  }
}

// --- inside gapify -------------------------------------------------------------------------------
// Thrown by one layer and turned into a GapifyError (or a lint finding) where that layer is called,
// so a user never sees them raw.

/** The wire format is broken at `path` (a field path like `graph.node[3].attribute[0]`). */
export class WireError extends Error {
  constructor(
    /** What is wrong, without where. */
    readonly reason: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${reason}` : reason);
    this.name = 'WireError';
  }
}

/** Decoding would take more memory than gapify allows itself: the file is not broken, it is too big. */
export class DecodeBudgetError extends WireError {}

/** A tensor's data contradicts its dims or dtype. */
export class TensorError extends Error {}

/** The graph breaks a rule the view relies on (a value produced twice, a cycle, …). */
export class GraphStructureError extends Error {}

/** A lazily read model's skipped bytes can't be loaded (the file was closed, or shrank). */
export class UnloadedBytesError extends Error {}

/** A path gapify would read names something other than a regular file (input-file.ts); `kind` says what. */
export class NotARegularFile extends Error {
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is not a regular file (${kind})`);
  }

  /** The path names a folder (fileKind's 'a folder'). */
  get isDirectory(): boolean {
    return this.kind === 'a folder';
  }
}

/** A model built in code (onnx/builder.ts) is malformed: the caller's bug. */
export class BuilderError extends Error {}
