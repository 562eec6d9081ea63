// The human-readable report of a gapify run (the CLI's stdout without --json).

import type { GapifyReport, Verification } from './gapify.js';
import type { Comparison } from './verify/compare.js';

const fmtInt = (n: number | undefined): string => (n === undefined ? '?' : n.toLocaleString('en-US'));
const fmtErr = (n: number | null): string => (n === null ? '—' : n === 0 ? '0' : n.toExponential(1));

function macLine(before: number | undefined, after: number | undefined): string {
  if (before === undefined || after === undefined) return `MACs ${fmtInt(before)} → ${fmtInt(after)} per sample (map size unknown)`;
  const pct = before === 0 ? 0 : ((after - before) / before) * 100;
  const change = after === before ? 'unchanged' : `${pct > 0 ? '+' : ''}${pct.toFixed(0)}%`;
  return `MACs ${fmtInt(before)} → ${fmtInt(after)} per sample (${change})`;
}

export function formatComparison(c: Comparison, indent = '  '): string[] {
  const lines: string[] = [];
  for (const o of c.outputs) {
    const status = o.ok ? 'ok' : `DIFFERENT${o.reason ? ` (${o.reason})` : ''}`;
    lines.push(`${indent}${o.name} [${o.shapeA.join(', ')}] ${o.dtypeA}  max abs ${fmtErr(o.maxAbsError)}  max rel ${fmtErr(o.maxRelError)}  ${status}`);
  }
  for (const m of c.missing) lines.push(`${indent}${m}: missing from the second model`);
  for (const m of c.extra) lines.push(`${indent}${m}: only in the second model`);
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
  for (const f of r.refused) lines.push(`  not rewritten (${f.code}): ${f.reason}`);
  for (const g of r.alreadyGap) lines.push(`  already a GAP head: Conv '${g.conv}'${g.classes !== undefined ? ` (${g.classes} classes)` : ''} → GlobalAveragePool '${g.pool}' — nothing to rewrite`);
  if (r.rewritten.length === 0 && r.refused.length === 0 && r.alreadyGap.length === 0) lines.push('  no classifier tail found');
  lines.push(`  ${verificationLines(r.verification).join('\n  ')}`);
  lines.push(r.written ? `  wrote ${r.output}` : `  nothing written: ${r.nothingWritten ?? 'no change'}`);
  return lines.join('\n');
}
