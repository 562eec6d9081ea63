// The rules of `gapify lint`. Rule ids are stable: CI configuration, SARIF consumers (GitHub code
// scanning tracks alerts by rule id) and the JSON output refer to them. Add rules; never rename one.

import { UsageError } from '../errors.js';
import { REFUSALS } from '../rewrite/reasons.js';

/** Severities, most severe first. `info` is SARIF's `note` and GitHub's `notice`. */
export const SEVERITIES = ['error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** How severe each level is: a finding fails the run when its rank is at least --fail-on's. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { error: 3, warning: 2, info: 1 };

export interface RuleMeta {
  /** SARIF `rule.name`: the id in PascalCase. */
  readonly name: string;
  readonly severity: Severity;
  /** One sentence. */
  readonly short: string;
  /** A paragraph. */
  readonly full: string;
  /** What to do about it, plain text and markdown. */
  readonly help: { readonly text: string; readonly markdown: string };
}

const refusalTable = Object.entries(REFUSALS).map(([code, why]) => `| \`${code}\` | ${why} |`).join('\n');

export const RULES = {
  'rewritable-tail': {
    name: 'RewritableTail',
    severity: 'warning',
    short: 'A classifier tail can be rewritten exactly into 1×1 Conv + GlobalAveragePool.',
    full: 'The model ends in pool → flatten → fully-connected layers (global), flatten of a spatial map → fully-connected layers (spatial, VGG-style), '
      + 'or an average pool whose kernel equals the map (pool-only). `gapify` can rewrite it into convolutions and a GlobalAveragePool with the same outputs, '
      + 'which makes the model accept other input sizes and exposes class activation maps. The finding gives the head\'s share of the parameters and the '
      + 'multiply-accumulates of each order (conv-first computes class maps, pool-first keeps the cost).',
    help: {
      text: 'Run `gapify <model>` to rewrite the tail; the result is verified with onnxruntime before it is written. Use --order pool-first to keep the MACs unchanged.',
      markdown: 'Run `gapify <model>` to rewrite the tail; the result is verified with onnxruntime before it is written.\n\n'
        + '- `--order conv-first`: the 1×1 Conv runs on the whole map (class activation maps; MACs × H·W).\n'
        + '- `--order pool-first`: the Conv runs on the pooled vector (MACs unchanged).\n\n'
        + 'Silence it in CI with `--fail-on error` (the default): it is a warning.',
    },
  },
  'not-rewritable': {
    name: 'NotRewritable',
    severity: 'info',
    short: 'A classifier tail cannot be rewritten exactly; the finding names the reason code.',
    full: 'gapify found a classifier tail but one of its conditions for an exact rewrite does not hold. `properties.code` is one of the stable reason codes below.',
    help: {
      text: `Reason codes: ${Object.keys(REFUSALS).join(', ')}. An unknown-dims refusal can often be lifted with --input-shape.`,
      markdown: `The rewrite would change the outputs, so gapify leaves the tail alone. Reason codes:\n\n| code | meaning |\n|---|---|\n${refusalTable}\n\n`
        + '`unknown-dims` can often be lifted with `--input-shape NAME:1,3,224,224`.',
    },
  },
  'already-gap-head': {
    name: 'AlreadyGapHead',
    severity: 'info',
    short: 'The model already ends in Conv → GlobalAveragePool: nothing to rewrite.',
    full: 'The classifier is already convolutional (SqueezeNet, NIN): class maps come out of a Conv and are averaged by a GlobalAveragePool.',
    help: {
      text: 'Nothing to do.',
      markdown: 'Nothing to do: the head is already a global-average-pool head.',
    },
  },
  'fixed-input-size': {
    name: 'FixedInputSize',
    severity: 'info',
    short: 'The model cannot accept input sizes other than the one it was exported at.',
    full: 'Something pins the spatial input size: fixed height/width dims on a graph input, a Reshape whose constant target holds the map size '
      + '(e.g. ShuffleNet\'s channel shuffle), an average pool whose kernel equals the map, a Resize to constant sizes, a Slice/Pad/Expand/Tile/ConstantOfShape '
      + 'whose constant fits one size, or a Flatten/Reshape feeding fully-connected layers from a spatial map. '
      + 'Each pin is listed in `properties.pins`; `fixedByRewrite` says whether `gapify --dynamic-size` removes it.',
    help: {
      text: 'Pins marked fixedByRewrite go away with `gapify --dynamic-size <model>` (input dims become symbolic, constant Reshape targets are computed from the tensor\'s shape, spatial tails and fixed pools are rewritten). The others change meaning with the size: re-export with the size computed from `x.shape`.',
      markdown: '- **Fixed input dims**, **constant Reshape targets** (channel shuffle, `view(b, c, h*w)`), a **spatial tail** or a **fixed tail pool**: removed by `gapify --dynamic-size <model>`.\n'
        + '- A **Resize to constant sizes**, a **Slice/Pad/Expand/Tile/ConstantOfShape** with a constant that fits one size, a **pool as big as the map inside the backbone**, or a Reshape that **splits** a dim that follows the size: '
        + 'these change meaning with the size, and gapify does not guess: re-export with the sizes computed from `x.shape`.',
    },
  },
  'broken-model': {
    name: 'BrokenModel',
    severity: 'error',
    short: 'The file cannot be read as an ONNX model.',
    full: 'The file is unreadable, is not an ONNX ModelProto, uses an unsupported IR version or opset, or is inconsistent (tensor sizes, graph structure, external data).',
    help: {
      text: 'Re-export or re-download the model. A Git LFS pointer means the checkout did not fetch LFS objects (actions/checkout with lfs: true).',
      markdown: 'Re-export or re-download the model. If the message says *Git LFS pointer*, the checkout did not fetch LFS objects: use `actions/checkout` with `lfs: true` or run `git lfs pull`.',
    },
  },
} as const satisfies Record<string, RuleMeta>;

export type RuleId = keyof typeof RULES;
export const RULE_IDS = Object.keys(RULES) as RuleId[];

// --- severities set by the user (--rule) ------------------------------------------------------------

/** What `--rule <id>=<level>` may set: a severity, or `off` to drop the rule's findings. */
export const RULE_LEVELS = ['off', ...SEVERITIES] as const;
export type RuleLevel = (typeof RULE_LEVELS)[number];
/** Levels that replace the rules' own severities; rules not named keep theirs. */
export type RuleLevels = Readonly<Partial<Record<RuleId, RuleLevel>>>;

/** The level a rule runs at under `levels`. */
export function ruleLevel(id: RuleId, levels: RuleLevels = {}): RuleLevel {
  return levels[id] ?? RULES[id].severity;
}

const isRuleId = (id: string): id is RuleId => Object.hasOwn(RULES, id);

/**
 * Parses `--rule` values: `id=level` (ESLint's `id: level` is taken too); a later value for the
 * same rule wins, as in ESLint. An unknown rule or level is a UsageError naming the valid ones.
 */
export function parseRuleLevels(specs: readonly string[]): RuleLevels {
  const levels: Partial<Record<RuleId, RuleLevel>> = {};
  for (const spec of specs) {
    const m = /^\s*([^=:\s]+)\s*[=:]\s*(\S+)\s*$/.exec(spec);
    if (!m) throw new UsageError(`--rule '${spec}': expected <rule>=<level>, e.g. rewritable-tail=off (levels: ${RULE_LEVELS.join(', ')})`);
    const [, id, level] = m as unknown as [string, string, string];
    if (!isRuleId(id)) throw new UsageError(`--rule '${spec}': no rule '${id}' (rules: ${RULE_IDS.join(', ')})`);
    if (!(RULE_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--rule '${spec}': no level '${level}' (levels: ${RULE_LEVELS.join(', ')})`);
    levels[id] = level as RuleLevel;
  }
  return levels;
}
