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
