// SARIF 2.1.0 output, as GitHub code scanning takes it (github/codeql-action/upload-sarif).
//
// A model is a binary file: every result points at line 1 of it (code scanning needs a region),
// with the node it is about as a logical location. Paths are relative to the root (root.ts: the
// repository root) under %SRCROOT%; a file outside it gets an absolute file: URI.
//
// Each rule's defaultConfiguration carries the level it ran at (--rule): code scanning shows a
// rule's severity from there. A rule turned off is `enabled: false` (and has no results).
//
// partialFingerprints['gapify/v1'] = sha256(rule id, path, node) + ':' + occurrence, so an alert
// keeps its identity when the weights change or other findings come and go. (primaryLocationLineHash
// is left to upload-sarif, which hashes line 1; setting it ourselves makes the action warn once per
// result.)

import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { FileReport, LintResult } from './types.js';
import { RULES, RULE_IDS, ruleLevel, type RuleLevels, type Severity } from './rules.js';
import { jsonText } from '../text.js';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

export interface ToolInfo {
  readonly version: string;
  readonly informationUri: string;
}

const LEVEL: Readonly<Record<Severity, 'error' | 'warning' | 'note'>> = { error: 'error', warning: 'warning', info: 'note' };

/** A relative path as a URI reference: each segment percent-encoded. */
function relativeUri(file: string): string {
  return file.split('/').map(encodeURIComponent).join('/');
}

function artifactLocation(f: FileReport): { uri: string; uriBaseId?: string } {
  // displayPath gives a relative path only for files inside the root.
  if (!f.file.startsWith('/')) return { uri: relativeUri(f.file), uriBaseId: '%SRCROOT%' };
  return { uri: pathToFileURL(f.absolutePath).href };
}

export function fingerprint(ruleId: string, file: string, node: string | null): string {
  return createHash('sha256').update(`${ruleId}\0${file}\0${node ?? ''}`).digest('hex');
}

export function formatSarif(result: LintResult, tool: ToolInfo, root: string, levels: RuleLevels = {}): string {
  const ruleIndex = new Map(RULE_IDS.map((id, i) => [id, i]));
  const rules = RULE_IDS.map((id) => {
    const r = RULES[id];
    const level = ruleLevel(id, levels);
    return {
      id,
      name: r.name,
      shortDescription: { text: r.short },
      fullDescription: { text: r.full },
      help: { text: r.help.text, markdown: r.help.markdown },
      helpUri: tool.informationUri,
      defaultConfiguration: level === 'off' ? { enabled: false, level: 'none' } : { level: LEVEL[level] },
      properties: { tags: ['onnx', 'model'], precision: 'very-high' },
    };
  });
  const results = result.files.flatMap((f) => {
    const seen = new Map<string, number>();
    return f.findings.map((x) => {
      const hash = fingerprint(x.ruleId, f.file, x.node);
      const occurrence = (seen.get(hash) ?? 0) + 1;
      seen.set(hash, occurrence);
      return {
        ruleId: x.ruleId,
        ruleIndex: ruleIndex.get(x.ruleId)!,
        level: LEVEL[x.severity],
        message: { text: x.message },
        locations: [{
          physicalLocation: { artifactLocation: artifactLocation(f), region: { startLine: 1 } },
          ...(x.node !== null ? { logicalLocations: [{ name: x.node, fullyQualifiedName: x.node }] } : {}),
        }],
        partialFingerprints: { 'gapify/v1': `${hash}:${occurrence}` },
        properties: x.properties,
      };
    });
  });
  const rootUri = pathToFileURL(root.endsWith('/') ? root : `${root}/`).href;
  const log = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'gapify', version: tool.version, semanticVersion: tool.version, informationUri: tool.informationUri, rules } },
      originalUriBaseIds: { '%SRCROOT%': { uri: rootUri } },
      results,
      columnKind: 'unicodeCodePoints',
    }],
  };
  return jsonText(log);
}
