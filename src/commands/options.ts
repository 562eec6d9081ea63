// Option parsers shared by the commands: each turns a bad value into a UsageError (exit 2).

import { InvalidArgumentError } from 'commander';

export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

// --- argv before commander ---------------------------------------------------------------------------

/** `NAME:D1,D2,…` or `D1,D2,…`: split at the last ':', as parseInputShapes does (names may hold ':'). */
function looksLikeShapeSpec(arg: string): boolean {
  return /^\d+(,\d+)*$/.test(arg.slice(arg.lastIndexOf(':') + 1).replace(/\s/g, ''));
}

/**
 * onnxsim's `--input-shape a:1,3,224,224 b:1,10` (several specs after one flag), as repeated
 * flags: `--input-shape a:1,3,224,224 --input-shape b:1,10`. An argument after the flag's value
 * continues the run only while it reads as a spec and names no file, so `--input-shape x:1,3 m.onnx`
 * still passes m.onnx on as the model. (A variadic commander option would swallow the model path.)
 */
export function spreadInputShapes(argv: readonly string[], isFile: (arg: string) => boolean): string[] {
  const out: string[] = [];
  let run = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (run && !a.startsWith('-') && looksLikeShapeSpec(a) && !isFile(a)) {
      out.push('--input-shape', a);
      continue;
    }
    run = false;
    out.push(a);
    if (a === '--input-shape' && i + 1 < argv.length) {
      out.push(argv[++i]!);
      run = true;
    } else if (a.startsWith('--input-shape=')) {
      run = true;
    }
  }
  return out;
}

/** Optimal string alignment distance (Damerau–Levenshtein without repeated edits of a substring). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The command a mistyped word was meant to be (`lnt` → `lint`, `chekc` → `check`): the closest name
 * within two edits, and closer than half the word, so short model names are not taken for commands.
 */
export function similarCommand(word: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of names) {
    const d = editDistance(word.toLowerCase(), name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best !== word && bestDistance <= 2 && bestDistance < word.length / 2 ? best : undefined;
}
