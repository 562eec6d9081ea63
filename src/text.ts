// The formatters every piece of human-readable text uses: the report, lint's messages, the check
// table, cam's summary. One spelling for numbers, dims, sizes and names everywhere.

import type { NodeProto } from './onnx/schema.js';

// Thousands separators by hand: toLocaleString's first call loads ICU data (~20 ms of a 0.4 s run).
export const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A count, '?' when unknown. */
export const count = (n: number | undefined): string => (n === undefined ? '?' : thousands(n));

/** A number to four significant digits, exponent notation outside [1e-3, 1e4). */
export const numberText = (x: number): string => (x === 0 ? '0' : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? String(Number(x.toPrecision(4))) : x.toExponential(2));

/** An error magnitude: '—' when there is none to give, else one significant digit. */
export const errorText = (n: number | null): string => (n === null ? '—' : n === 0 ? '0' : n.toExponential(1));

/** A score or probability: three decimals, one for large values, exponent notation for tiny ones. */
export const scoreText = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(1) : Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(3) : x.toExponential(2));

/** A share as a percentage: "4.3%", "0.05%". */
export const percent = (x: number): string => `${(x * 100).toFixed(x < 0.001 ? 2 : 1)}%`;

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The change from `before` to `after` in percent: "+4800%", "-3%", "+0.4%". */
export function percentChange(before: number, after: number): string {
  const p = before === 0 ? 0 : ((after - before) / before) * 100;
  return `${p > 0 ? '+' : ''}${p.toFixed(p !== 0 && Math.abs(p) < 1 ? 1 : 0)}%`;
}

/** `after` and its change from `before`: "1,024 (unchanged)", "50,176,000 (+4800%)". */
export function countChange(before: number, after: number | null | undefined): string {
  if (after === null || after === undefined) return 'unknown (map size unknown)';
  if (after === before) return `${thousands(after)} (unchanged)`;
  return `${thousands(after)} (${percentChange(before, after)})`;
}

type DimText = number | string | null | undefined;

/** Dims as `64×7×7`, unknown ones as `?` (`scalar` for rank 0). */
export const dimsText = (dims: readonly DimText[]): string => (dims.length === 0 ? 'scalar' : dims.map((d) => d ?? '?').join('×'));

/** A shape as `[1, 64, 7, 7]`, unknown dims as `?`. */
export const shapeText = (dims: readonly DimText[] | undefined): string => (dims ? `[${dims.map((d) => d ?? '?').join(', ')}]` : '[?]');

/** A [height, width] size: `224×224`. */
export const sizeText = (s: readonly [number, number]): string => `${s[0]}×${s[1]}`;

/**
 * C0 and C1 control characters (ESC, CSI, newline, …), DEL, the Unicode line and paragraph
 * separators, and the bidirectional controls that can make a name read as something else.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const escapeControl = (c: string): string => {
  const json = JSON.stringify(c).slice(1, -1);
  return json.length > 1 ? json : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
};

/**
 * Control characters as escapes (`\n`, `\u001b`), so a crafted name can't break a one-line
 * message, forge a line of a report or reach the terminal as an escape sequence.
 */
export const printable = (s: string): string => s.replace(CONTROL, escapeControl);

/** Lines as printed: each one line, whatever names went into it (control characters escaped). */
export const printLines = (lines: readonly string[]): string => lines.map(printable).join('\n');

/** One printable line of at most `max` characters (a long message is cut in the middle, marked …). */
export function oneLine(s: string, max = 400): string {
  const p = printable(s);
  if (p.length <= max) return p;
  const half = Math.floor((max - 1) / 2);
  return `${p.slice(0, half)}…${p.slice(p.length - half)}`;
}

/**
 * JSON for stdout or a file: JSON.stringify escapes C0 controls itself, not DEL, C1 controls,
 * U+2028/2029 or bidirectional controls — escaped here too, so no value can act on a terminal.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(/[\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** How a node is named in messages: its name, else `Op(first output)`, printable. */
export function nodeLabel(n: NodeProto): string {
  return printable(n.name || `${n.op_type ?? '?'}(${n.output[0] ?? ''})`);
}
