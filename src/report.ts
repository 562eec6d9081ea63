// The human-readable report of a gapify run (the CLI's stdout without --json).

import type { GapifyReport, Verification } from './gapify.js';
import type { Comparison } from './verify/compare.js';
import type { SizeReport } from './size/dynamic.js';

// Thousands separators by hand: toLocaleString's first call loads ICU data (~20 ms of a 0.4 s run).
export const thousands = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const fmtInt = (n: number | undefined): string => (n === undefined ? '?' : thousands(n));
const fmtErr = (n: number | null): string => (n === null ? '—' : n === 0 ? '0' : n.toExponential(1));

/** `after` and its change from `before`: "1,024 (unchanged)", "50,176,000 (+4800%)". */
export function countChange(before: number, after: number | null | undefined): string {
  if (after === null || after === undefined) return 'unknown (map size unknown)';
  if (after === before) return `${thousands(after)} (unchanged)`;
  const p = before === 0 ? 0 : ((after - before) / before) * 100;
  return `${thousands(after)} (${p > 0 ? '+' : ''}${p.toFixed(p !== 0 && Math.abs(p) < 1 ? 1 : 0)}%)`;
}

function macLine(before: number | undefined, after: number | undefined): string {
  return before === undefined ? 'MACs unknown' : `MACs per sample ${thousands(before)} → ${countChange(before, after)}`;
}

export function formatComparison(c: Comparison, indent = '  '): string[] {
  const lines: string[] = [];
  for (const o of c.outputs) {
    const status = o.ok ? 'ok' : `DIFFERENT${o.reason ? ` (${o.reason})` : ''}`;
    lines.push(`${indent}${o.name} [${o.shapeA.join(', ')}] ${o.dtypeA}  max abs ${fmtErr(o.maxAbsError)}  max rel ${fmtErr(o.maxRelError)}  ${status}`);
  }
  for (const m of c.missing) lines.push(`${indent}${m}: missing from the second model`);
  for (const m of c.extra) lines.push(`${indent}${m}: only in the second model`);
  if (c.allowedExtra?.length) lines.push(`${indent}not compared (added on purpose): ${c.allowedExtra.join(', ')}`);
  for (const m of c.inputMismatches) lines.push(`${indent}inputs differ: ${m}`);
  lines.push(`${indent}tolerance atol ${c.tolerances.atol} rtol ${c.tolerances.rtol} (${c.tolerances.source}), seed ${c.seed}`);
  return lines;
}

function verificationLines(v: Verification): string[] {
  if (v.status === 'skipped') return [`verification: skipped (${v.reason})${v.reason === '--no-verify' ? ' — the rewrite is exact by construction but was NOT checked' : ''}`];
  return [`verification: ${v.status === 'passed' ? 'passed' : 'FAILED'} with onnxruntime (graph optimizations off)`, ...formatComparison(v.comparison)];
}

export function formatReport(r: GapifyReport): string {
  const lines: string[] = [`gapify ${r.input}`];
  for (const i of r.inputs) {
    lines.push(`  input ${i.name}: [${i.shape.join(', ')}] ${i.dtype}${i.note ? `  (${i.note.replace(/^[^:]*:\s*/, '')})` : ''}`);
  }
  r.rewritten.forEach((c, k) => {
    const order = c.order ? `, ${c.order}` : '';
    lines.push(`  tail ${k + 1}: ${c.kind} tail at '${c.at}'${order} → output '${c.output}'`);
    for (const l of c.layers) lines.push(`    ${l.op} '${l.node}' [${l.weight.join('×')}] → ${l.became}`);
    lines.push(`    removed ${c.removed.length} node(s), added ${c.added.map((a) => a.replace(/^.*\/gapify\//, '')).join(' → ')}`);
    if (c.kind !== 'pool-only') lines.push(`    params ${fmtInt(c.params)} (unchanged), ${macLine(c.macsBefore, c.macsAfter)}`);
    if (c.classMap) lines.push(`    class map: '${c.classMap}'`);
    for (const n of c.notes) lines.push(`    note: ${n}`);
  });
  if (r.modelMacs) lines.push(`  whole model: MACs per sample ${thousands(r.modelMacs.before)} → ${countChange(r.modelMacs.before, r.modelMacs.after)}`);
  for (const f of r.refused) lines.push(`  not rewritten (${f.code}): ${f.reason}`);
  for (const g of r.alreadyGap) lines.push(`  already a GAP head: Conv '${g.conv}'${g.classes !== undefined ? ` (${g.classes} classes)` : ''} → GlobalAveragePool '${g.pool}' — nothing to rewrite`);
  for (const o of r.cam?.outputs ?? []) {
    lines.push(`  cam: output '${o.name}' [${o.shape?.map((d) => d ?? '?').join(', ') ?? '?'}] = class maps '${o.classMap}'${o.source === 'gap-head' ? ' of the GAP head' : ''}; '${o.scores}' is their spatial mean`);
  }
  for (const s of r.cam?.skipped ?? []) lines.push(`  cam: no class map for the tail at '${s.at}': ${s.reason}`);
  if (r.rewritten.length === 0 && r.refused.length === 0 && r.alreadyGap.length === 0) lines.push('  no classifier tail found');
  if (r.size) lines.push(...sizeLines(r.size));
  lines.push(`  ${verificationLines(r.verification).join('\n  ')}`);
  lines.push(r.written ? `  wrote ${r.output}` : `  nothing written: ${r.nothingWritten ?? 'no change'}`);
  return lines.join('\n');
}

/** --dynamic-size: what the input became and how the second size went. */
export function sizeLines(s: SizeReport): string[] {
  const size = (x: readonly [number, number]): string => `${x[0]}×${x[1]}`;
  const lines: string[] = [];
  const inputs = s.inputs.map((i) => `'${i.name}' [${i.dims.map((d) => d ?? '?').join(', ')}]`).join(', ');
  if (s.dynamic) lines.push(`  dynamic size: input ${inputs} (trained at ${size(s.trained)})`);
  else lines.push(`  dynamic size: NO — ${s.note ?? `input ${inputs} stays fixed`}`);
  for (const p of s.pins) lines.push(`    pinned by ${p.op} '${p.node}' (${p.found === 'static' ? 'shape inference' : 'onnxruntime'}): ${p.reason}`);
  const c = s.check;
  if (c.status === 'passed') {
    const outs = c.outputs.map((o) => `${o.name} [${o.also.join(', ')}]`).join(', ');
    lines.push(`    runs at ${size(s.also)}: ${outs} (onnxruntime; same names, dtypes and class dims as at ${size(s.trained)})`);
  } else if (c.status === 'failed') {
    for (const p of c.problems) lines.push(`    at ${size(s.also)}: ${p}`);
  } else {
    lines.push(`    ${size(s.also)} not run: ${c.reason}`);
  }
  if (s.cleared.length) lines.push(`    declared shapes made size-free: ${s.cleared.length <= 4 ? s.cleared.map((n) => `'${n}'`).join(', ') : `${s.cleared.length} values`}`);
  return lines;
}
