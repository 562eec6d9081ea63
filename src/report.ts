// A gapify run's report as the CLI prints it: human-readable text (formatReport) or JSON
// (reportJson). The report itself holds nodes; names are made here, when it is printed.

import type { GapifyReport, Verification } from './result.js';
import type { AlreadyGap, Refusal, TailChange } from './rewrite/rule.js';
import type { SizeReport } from './size/index.js';
import type { SizePin } from './size/pin.js';
import { pointText } from './size/plan.js';
import type { ReshapeFree } from './size/unpin.js';
import { count, countChange, errorText, nodeLabel, percentChange, plural, printLines, shapeText, sizeText, thousands } from './text.js';
import type { Comparison } from './verify/compare.js';

function macLine(before: number | undefined, after: number | undefined): string {
  return before === undefined ? 'MACs unknown' : `MACs per sample ${thousands(before)} → ${countChange(before, after)}`;
}

export function formatComparison(c: Comparison, indent = '  '): string[] {
  const lines: string[] = [];
  for (const o of c.outputs) {
    const status = o.ok ? 'ok' : `DIFFERENT${o.reason ? ` (${o.reason})` : ''}`;
    lines.push(`${indent}${o.name} ${shapeText(o.shapeA)} ${o.dtypeA}  max abs ${errorText(o.maxAbsError)}  max rel ${errorText(o.maxRelError)}  ${status}`);
  }
  for (const m of c.missing) lines.push(`${indent}${m}: missing from the second model`);
  for (const m of c.extra) lines.push(`${indent}${m}: only in the second model`);
  if (c.allowedExtra?.length) lines.push(`${indent}not compared (added on purpose): ${c.allowedExtra.join(', ')}`);
  if (c.unrunnable) lines.push(`${indent}the rewritten model does not run: ${c.unrunnable}`);
  for (const m of c.inputMismatches) lines.push(`${indent}inputs differ: ${m}`);
  lines.push(`${indent}tolerance atol ${c.tolerances.atol} rtol ${c.tolerances.rtol} (${c.tolerances.source}), seed ${c.seed}`);
  return lines;
}

function verificationLines(v: Verification): string[] {
  if (v.status === 'skipped') return [`verification: skipped (${v.reason})${v.reason === '--no-verify' ? ' — the rewrite is exact by construction but was NOT checked' : ''}`];
  return [`verification: ${v.status === 'passed' ? 'passed' : 'FAILED'} with onnxruntime (graph optimizations off)`, ...formatComparison(v.comparison)];
}

/** What class maps would cost a tail written pool-first: "--cam adds class maps: +24% MACs (of the whole model)". */
function classMapCost(c: TailChange, modelBefore: number | undefined): string | undefined {
  if (c.order !== 'pool-first' || !c.tail.match.classMaps || !c.tail.orders.includes('conv-first')) return undefined;
  const { macs } = c.tail.cost();
  if (macs.convFirst === null || macs.poolFirst === null) return undefined;
  const base = modelBefore ?? macs.poolFirst;
  return `--cam adds class maps: ${percentChange(base, base + macs.convFirst - macs.poolFirst)} MACs${modelBefore !== undefined ? ' of the whole model' : ' of the head'}`;
}

/** A new node's label without its `<base>/gapify/` prefix: "Conv", "GlobalAveragePool". */
const shortLabel = (n: Parameters<typeof nodeLabel>[0]): string => nodeLabel(n).replace(/^.*\/gapify\//, '');

export function formatReport(r: GapifyReport): string {
  const lines: string[] = [`gapify ${r.input}`];
  for (const i of r.inputs) {
    lines.push(`  input ${i.name}: ${shapeText(i.shape)} ${i.dtype}${i.note ? `  (${i.note.startsWith(`${i.name}: `) ? i.note.slice(i.name.length + 2) : i.note})` : ''}`);
  }
  r.rewritten.forEach((c, k) => {
    const order = c.order ? `, ${c.order}` : '';
    lines.push(`  tail ${k + 1}: ${c.tail.kind} tail at '${nodeLabel(c.tail.match.at)}'${order} → output '${c.tail.match.output}'`);
    for (const l of c.layers) lines.push(`    ${l.op} '${nodeLabel(l.node)}' [${l.weight.join('×')}] → ${l.became}`);
    lines.push(`    removed ${c.removed.length} node(s), added ${c.added.map(shortLabel).join(' → ')}`);
    if (c.layers.length) lines.push(`    params ${count(c.params)} (unchanged), ${macLine(c.macsBefore, c.macsAfter)}`);
    if (c.classMap) lines.push(`    class map: '${c.classMap}'`);
    for (const n of c.notes) lines.push(`    note: ${n}`);
    const maps = classMapCost(c, r.modelMacs?.before);
    if (maps) lines.push(`    note: ${maps}`);
  });
  if (r.modelMacs) lines.push(`  whole model: ${macLine(r.modelMacs.before, r.modelMacs.after)}`);
  for (const f of r.refused) lines.push(`  not rewritten (${f.code}): ${f.reason}`);
  for (const g of r.alreadyGap) lines.push(`  already a GAP head: Conv '${nodeLabel(g.conv)}'${g.classes !== undefined ? ` (${g.classes} classes)` : ''} → GlobalAveragePool '${nodeLabel(g.pool)}' — nothing to rewrite`);
  for (const o of r.cam?.outputs ?? []) {
    lines.push(`  cam: output '${o.name}' ${shapeText(o.shape)} = class maps '${o.classMap}'${o.source === 'gap-head' ? ' of the GAP head' : ''}; '${o.scores}' is their spatial mean`);
  }
  for (const s of r.cam?.skipped ?? []) lines.push(`  cam: no class map for the tail at '${nodeLabel(s.at)}': ${s.reason}`);
  if (r.rewritten.length === 0 && r.refused.length === 0 && r.alreadyGap.length === 0) lines.push('  no classifier tail found');
  if (r.size) lines.push(...sizeLines(r.size));
  lines.push(...verificationLines(r.verification).map((l) => `  ${l}`));
  lines.push(r.written ? `  wrote ${r.output}` : `  nothing written: ${r.nothingWritten ?? 'no change'}`);
  return printLines(lines);
}

/** Pins and freed Reshapes listed one per line up to this many; ShuffleNet has 32 freed Reshapes. */
const SHOWN = 3;

/** "[1, 3, height, width]", "[batch, 3, 224, 224]": what the flags made free. */
function freedWhat(s: SizeReport): string {
  const what = s.free.size && s.free.batch ? 'size and batch' : s.free.size ? 'size' : 'batch';
  return s.batchWasSymbolic && s.free.size ? 'size (and the batch, symbolic already)' : what;
}

/** --dynamic-size / --dynamic-batch: what the input became, what was freed, how the checks went. */
export function sizeLines(s: SizeReport): string[] {
  const lines: string[] = [];
  const inputs = s.inputs.map((i) => `'${i.name}' ${shapeText(i.dims)}`).join(', ');
  const stride = s.stride[0] === s.stride[1] ? String(s.stride[0]) : sizeText(s.stride);
  const trained = s.free.batch ? `${sizeText(s.trained)}, batch ${s.batch}` : sizeText(s.trained);
  if (s.dynamic) lines.push(`  dynamic ${freedWhat(s)}: input ${inputs} (trained at ${trained}, stride ${stride})`);
  else lines.push(`  dynamic ${freedWhat(s)}: NO — ${s.note ?? `input ${inputs} stays fixed`}`);
  if (s.freed.length) lines.push(`    freed ${plural(s.freed.length, 'Reshape target')}, now computed from the tensor's shape:`);
  for (const f of s.freed.slice(0, SHOWN)) lines.push(`      Reshape '${nodeLabel(f.node)}' ${shapeText(f.target)} → ${shapeText(f.words)}`);
  if (s.freed.length > SHOWN) lines.push(`      … and ${s.freed.length - SHOWN} more (--json lists them all)`);
  for (const p of s.pins.slice(0, SHOWN)) lines.push(`    pin (${p.found === 'static' ? 'shape inference' : 'onnxruntime'}): ${p.detail}`);
  if (s.pins.length > SHOWN) lines.push(`    … and ${s.pins.length - SHOWN} more pins (--json lists them all)`);
  const c = s.check;
  if (c.status === 'skipped') {
    lines.push(`    other sizes not run: ${c.reason}`);
  } else {
    for (const k of c.checks) {
      const set = s.freed.length ? ', its Reshape targets set for that size' : '';
      const against = k.reference === 'original' ? `the original${set}` : k.reference === 'rewritten' ? `the rewritten model${set} (the original does not run there)` : undefined;
      const outs = [
        ...k.outputs.map((o) => `${o.name} ${shapeText(o.dims)} max abs ${errorText(o.maxAbsError)}${o.ok ? '' : ' DIFFERENT'}`),
        ...(k.reshapes.count ? [`${k.reshapes.count < k.reshapes.of ? `${k.reshapes.count} of ` : ''}the freed Reshapes' outputs max abs ${errorText(k.reshapes.maxAbsError)}${k.reshapes.ok ? '' : ' DIFFERENT'}`] : []),
      ].join(', ');
      const status = k.problems.length ? 'FAILED' : 'ok';
      lines.push(`    at ${pointText(k, s.batch)}: ${status}${against ? ` — vs ${against}${outs ? `: ${outs}` : ''}` : ''}`);
      for (const p of k.problems) lines.push(`      ${p}`);
    }
    if (c.status === 'failed') for (const p of c.problems.filter((p) => !p.startsWith('at '))) lines.push(`    ${p}`);
  }
  if (s.cleared.length) lines.push(`    declared shapes made size-free: ${s.cleared.length <= 4 ? s.cleared.map((n) => `'${n}'`).join(', ') : `${s.cleared.length} values`}`);
  return lines;
}

// --- JSON ----------------------------------------------------------------------------------------

const changeJson = (c: TailChange): object => ({
  kind: c.tail.kind,
  at: nodeLabel(c.tail.match.at),
  ...(c.order ? { order: c.order } : {}),
  output: c.tail.match.output,
  layers: c.layers.map((l) => ({ node: nodeLabel(l.node), op: l.op, weight: l.weight, became: l.became })),
  removed: c.removed.map(nodeLabel),
  added: c.added.map(nodeLabel),
  ...(c.classMap ? { classMap: c.classMap } : {}),
  params: c.params,
  macsBefore: c.macsBefore,
  macsAfter: c.macsAfter,
  notes: c.notes,
});

const refusalJson = (f: Refusal): object => ({
  kind: f.kind, tailKind: f.rule, at: nodeLabel(f.at), code: f.code, reason: f.reason, ...(f.node ? { node: nodeLabel(f.node) } : {}),
});

const alreadyGapJson = (g: AlreadyGap): object => ({ kind: g.kind, pool: nodeLabel(g.pool), conv: nodeLabel(g.conv), classes: g.classes });

const freedJson = (f: ReshapeFree): object => ({ node: nodeLabel(f.node), target: f.target, becomes: f.words });

// `op` and `reason` are the fields --json gave pins before they had a kind and a detail.
const pinJson = (p: SizePin): object => ({
  kind: p.kind, node: p.node ? nodeLabel(p.node) : null, op: p.node?.op_type ?? null, ...(p.input !== undefined ? { input: p.input } : {}),
  detail: p.detail, reason: p.detail, found: p.found, fixedByRewrite: p.fixedByRewrite,
});

/** The report as plain data for --json: nodes by their labels. */
export function reportJson(r: GapifyReport): object {
  return {
    ...r,
    rewritten: r.rewritten.map(changeJson),
    refused: r.refused.map(refusalJson),
    alreadyGap: r.alreadyGap.map(alreadyGapJson),
    ...(r.cam ? { cam: { outputs: r.cam.outputs, skipped: r.cam.skipped.map((s) => ({ at: nodeLabel(s.at), reason: s.reason })) } } : {}),
    ...(r.size ? { size: { ...r.size, freed: r.size.freed.map(freedJson), pins: r.size.pins.map(pinJson) } } : {}),
  };
}
