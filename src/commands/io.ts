// Where the commands write: results to stdout, progress and warnings to stderr (cli.ts makes the real one).

export interface CliIO {
  /** Results: stdout. */
  out(text: string): void;
  /** Progress: stderr, only for a person watching a terminal. */
  progress(line: string): void;
  /** Warnings: stderr, always (CI logs keep them). */
  warn(line: string): void;
}
