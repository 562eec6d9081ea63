// GraphView: who produces and reads each value, constants, fresh names, dead-code removal,
// topological order, validation, and reads from inside subgraphs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphStructureError, GraphView } from '../src/graph/graph.js';
import { makeConstantNode, makeGraph, makeNode, makeTensor, makeValueInfo } from '../src/onnx/builder.js';
import { decode, encode } from '../src/onnx/codec.js';
import { DataType, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../src/onnx/schema.js';
import { readFloats, readInts } from '../src/onnx/tensor.js';

const F = DataType.FLOAT;
const vi = (name: string): ValueInfoProto => makeValueInfo(name, F, [1]);
const node = (op: string, inputs: string[], outputs: string[], name?: string): NodeProto => makeNode(op, inputs, outputs, {}, name ?? outputs[0]);
const weight = (name: string): TensorProto => makeTensor(name, F, [1], [1]);

function view(nodes: NodeProto[], inputs: string[], outputs: string[], inits: TensorProto[] = [], valueInfo: ValueInfoProto[] = []): GraphView {
  return new GraphView(makeGraph(nodes, 'g', inputs.map(vi), outputs.map(vi), inits, valueInfo), 13);
}

function names(nodes: readonly NodeProto[]): string[] {
  return nodes.map((n) => n.name ?? '?');
}

/** Every input of every node is a graph input, an initializer or an earlier node's output. */
function assertTopological(order: readonly NodeProto[], available: string[]): void {
  const seen = new Set(['', ...available]);
  for (const n of order) {
    for (const i of n.input) assert.ok(seen.has(i), `${n.name} reads ${i} before it is produced`);
    for (const o of n.output) seen.add(o);
  }
}

describe('producer and consumers', () => {
  //   x ─ A(Relu) ─ a ─┬─ B(Neg) ─ b ─┐
  //                    └─────────── C(Add) ─ y
  //                    └─ D(Mul a, a) ─ d            (reads a twice: one consumer)
  const A = node('Relu', ['x'], ['a'], 'A');
  const B = node('Neg', ['a'], ['b'], 'B');
  const C = node('Add', ['a', 'b'], ['y'], 'C');
  const D = node('Mul', ['a', 'a'], ['d'], 'D');
  const g = view([A, B, C, D], ['x'], ['y', 'd']);

  it('finds the producer of each value', () => {
    assert.equal(g.producer('a'), A);
    assert.equal(g.producer('y'), C);
    assert.equal(g.producer('x'), undefined, 'a graph input has no producer');
    assert.equal(g.producer('nope'), undefined);
  });

  it('lists each consumer once, in node order', () => {
    assert.deepEqual(names(g.consumers('a')), ['B', 'C', 'D']);
    assert.deepEqual(names(g.consumers('x')), ['A']);
    assert.deepEqual(g.consumers('y'), [], 'a graph output with no reader');
    assert.ok(g.isUsed('y'), 'but it is used');
    assert.ok(!g.isUsed('nope'));
  });

  it('follows edits after invalidate()', () => {
    const h = view([A, B, C], ['x'], ['y']);
    assert.deepEqual(names(h.consumers('b')), ['C']);
    h.nodes = h.nodes.filter((n) => n !== C);
    h.invalidate();
    assert.deepEqual(h.consumers('b'), []);
    assert.equal(h.producer('y'), undefined);
  });
});

describe('constant()', () => {
  //   W (initializer) ─ Identity ─ w1 ─ Identity ─ w2
  //   Constant(value = [-1, 16]) ─ k ─ Identity ─ k1
  //   Constant(value_float 2.5) ─ cf      Constant(value_floats [1, 2]) ─ cfs
  //   Constant(value_int 7) ─ ci          Constant(value_ints [2, 3]) ─ cis
  //   X (initializer AND graph input) ─ Identity ─ x1
  //   x ─ Relu ─ r                        Constant in domain com.other ─ co
  const W = makeTensor('W', F, [2], [0.5, 1.5]);
  const X = makeTensor('X', F, [1], [3]);
  const K = makeTensor('', DataType.INT64, [2], [-1, 16]);
  const nodes = [
    node('Identity', ['W'], ['w1']),
    node('Identity', ['w1'], ['w2']),
    makeConstantNode('k', K, 'const_k'),
    node('Identity', ['k'], ['k1']),
    makeNode('Constant', [], ['cf'], { value_float: 2.5 }),
    makeNode('Constant', [], ['cfs'], { value_floats: { floats: [1, 2] } }),
    makeNode('Constant', [], ['ci'], { value_int: 7 }),
    makeNode('Constant', [], ['cis'], { value_ints: [2, 3] }),
    node('Identity', ['X'], ['x1']),
    node('Relu', ['x'], ['r']),
    makeNode('Constant', [], ['co'], { value: K }, 'other', 'com.other'),
  ];
  // Decoded, not only built: constant() must work on what the codec gives.
  const built = makeGraph(nodes, 'g', [vi('x'), vi('X')], [vi('r')], [W, X]);
  const decoded = decode<GraphProto>('onnx.GraphProto', new Uint8Array(encode('onnx.GraphProto', built)));

  for (const [label, graph] of [['built', built], ['decoded', decoded]] as const) {
    it(`resolves initializers, Constant nodes and Identity chains (${label})`, () => {
      const g = new GraphView(graph, 13);
      assert.deepEqual([...readFloats(g.constant('W')!)], [0.5, 1.5]);
      assert.deepEqual([...readFloats(g.constant('w2')!)], [0.5, 1.5], 'through two Identity nodes');
      assert.deepEqual(readInts(g.constant('k1')!), [-1, 16]);
      const cf = g.constant('cf')!;
      assert.deepEqual([cf.dims, [...readFloats(cf)]], [[], [2.5]]);
      const cfs = g.constant('cfs')!;
      assert.deepEqual([cfs.dims, [...readFloats(cfs)]], [[2], [1, 2]]);
      const ci = g.constant('ci')!;
      assert.deepEqual([ci.dims, readInts(ci)], [[], [7]]);
      const cis = g.constant('cis')!;
      assert.deepEqual([cis.dims, readInts(cis)], [[2], [2, 3]]);
    });

    it(`is undefined for overridable inputs and computed values (${label})`, () => {
      const g = new GraphView(graph, 13);
      assert.equal(g.constant('X'), undefined, 'an initializer that is also a graph input can be overridden');
      assert.equal(g.constant('x1'), undefined, '…also through Identity');
      assert.equal(g.constant('r'), undefined);
      assert.equal(g.constant('x'), undefined);
      assert.equal(g.constant('co'), undefined, 'a Constant of another domain is not ours');
      assert.equal(g.constant('missing'), undefined);
    });
  }
});

describe('uniqueName()', () => {
  //   x ─ node "n" ─ v ─ node "m" ─ v_1          initializer w, w_1 unused
  const g = view(
    [node('Relu', ['x'], ['v'], 'n'), node('Relu', ['v'], ['v_1'], 'm')],
    ['x'],
    ['v_1'],
    [weight('w')],
  );

  it('avoids node names, values, inputs and initializers', () => {
    assert.equal(g.uniqueName('n'), 'n_1', 'node name');
    assert.equal(g.uniqueName('v'), 'v_2', 'value, and its _1 is taken');
    assert.equal(g.uniqueName('w'), 'w_1', 'initializer');
    assert.equal(g.uniqueName('x'), 'x_1', 'graph input');
    assert.equal(g.uniqueName('fresh'), 'fresh');
  });

  it('never hands out the same name twice', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add(g.uniqueName('gap'));
    assert.equal(seen.size, 5);
    assert.equal(g.uniqueName('n'), 'n_2');
  });
});

describe('removeDead()', () => {
  //   x ─ A ─ a ─ B(a, w1, w2) ─ b ─ C ─ c        (c is read by no one)
  //            └─ D(a, w2) ─ y                     (y is a graph output)
  //   value_info: b, c, a
  function graph(): { g: GraphView; A: NodeProto; B: NodeProto; C: NodeProto; D: NodeProto } {
    const A = node('Relu', ['x'], ['a'], 'A');
    const B = node('Sum', ['a', 'w1', 'w2'], ['b'], 'B');
    const C = node('Neg', ['b'], ['c'], 'C');
    const D = node('Add', ['a', 'w2'], ['y'], 'D');
    const g = view([A, B, C, D], ['x'], ['y'], [weight('w1'), weight('w2')], [vi('b'), vi('c'), vi('a')]);
    return { g, A, B, C, D };
  }

  it('removes a dead chain backwards, keeps what is still read', () => {
    const { g, A, B, C, D } = graph();
    const removed = g.removeDead([C]);
    assert.deepEqual(names(removed), ['C', 'B']);
    assert.deepEqual(g.nodes, [A, D], 'A stays: D still reads a');
    assert.deepEqual([...g.initializers.keys()], ['w2'], 'w1 was read only by B');
    assert.deepEqual(g.valueInfo.map((v) => v.name), ['a'], 'value_info of removed values is dropped');
    const proto = g.toProto();
    assert.deepEqual(names(proto.node), ['A', 'D']);
    assert.deepEqual(proto.initializer.map((t) => t.name), ['w2']);
  });

  it('keeps a node whose output is a graph output or still read', () => {
    const { g, B, D } = graph();
    assert.deepEqual(g.removeDead([D]), [], 'y is a graph output');
    assert.deepEqual(g.removeDead([B]), [], 'C still reads b');
    assert.equal(g.nodes.length, 4);
    assert.equal(g.initializers.size, 2);
  });

  it('never drops an initializer that is also a graph input', () => {
    //   x ─ A(x, w) ─ a ─ B ─ b (dead)      w: initializer and graph input
    const A = node('Add', ['x', 'w'], ['a'], 'A');
    const B = node('Neg', ['a'], ['b'], 'B');
    const g = view([A, B, node('Relu', ['x'], ['y'], 'Y')], ['x', 'w'], ['y'], [weight('w')]);
    assert.deepEqual(names(g.removeDead([B])), ['B', 'A']);
    assert.ok(g.initializers.has('w'));
  });
});

describe('topologicalOrder()', () => {
  //   x ─ A ─ a ─┬─ B ─ b ─┬─ D(b, c) ─ d ─ E ─ y
  //              └─ C ─ c ─┘
  const mk = (): NodeProto[] => [
    node('Relu', ['x'], ['a'], 'A'),
    node('Neg', ['a'], ['b'], 'B'),
    node('Abs', ['a'], ['c'], 'C'),
    node('Add', ['b', 'c'], ['d'], 'D'),
    node('Relu', ['d'], ['y'], 'E'),
  ];

  it('keeps an order that is already valid', () => {
    const nodes = mk();
    assert.deepEqual(view(nodes, ['x'], ['y']).topologicalOrder(), nodes);
  });

  it('sorts shuffled graphs', () => {
    const nodes = mk();
    const next = (() => {
      let s = 99;
      return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
    })();
    for (let k = 0; k < 20; k++) {
      const shuffled = [...nodes];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const g = view(shuffled, ['x'], ['y']);
      const order = g.topologicalOrder();
      assert.equal(order.length, nodes.length);
      assertTopological(order, ['x']);
      g.sort();
      assert.deepEqual(g.nodes, order);
    }
  });

  it('treats initializers and omitted inputs (\'\') as available', () => {
    //   x ─ Clip(x, '', hi) ─ y      hi: initializer
    const g = view([node('Clip', ['x', '', 'hi'], ['y'])], ['x'], ['y'], [weight('hi')]);
    assert.equal(g.topologicalOrder().length, 1);
  });

  it('throws on a cycle', () => {
    //   x ─ A(x, b) ─ a ─ B ─ b ─┐
    //        ↑───────────────────┘
    const g = view([node('Add', ['x', 'b'], ['a'], 'A'), node('Neg', ['a'], ['b'], 'B')], ['x'], ['b']);
    assert.throws(() => g.topologicalOrder(), (e) => e instanceof GraphStructureError && /cycle/.test(e.message));
  });

  it('throws when a node reads a value no one produces', () => {
    const g = view([node('Add', ['x', 'ghost'], ['y'], 'A')], ['x'], ['y']);
    assert.throws(() => g.topologicalOrder(), (e) => e instanceof GraphStructureError && /ghost/.test(e.message));
  });
});

describe('validate()', () => {
  it('accepts a well-formed graph', () => {
    const g = view([node('Relu', ['x'], ['a'], 'A'), node('Neg', ['a'], ['y'], 'B')], ['x'], ['y']);
    assert.doesNotThrow(() => g.validate());
    assert.deepEqual(g.nodes.map((n) => n.name), ['A', 'B']);
  });

  it('detects a value produced twice', () => {
    //   x ─ A ─ a      x ─ B ─ a   (two producers)
    const g = view([node('Relu', ['x'], ['a'], 'A'), node('Neg', ['x'], ['a'], 'B'), node('Abs', ['a'], ['y'], 'C')], ['x'], ['y']);
    assert.throws(() => g.validate(), (e) => e instanceof GraphStructureError && /'a' is produced more than once/.test(e.message));
  });

  it('detects a node overwriting a graph input or an initializer', () => {
    assert.throws(() => view([node('Relu', ['y'], ['x'], 'A'), node('Relu', ['x'], ['y'], 'B')], ['x'], ['y']).validate(), GraphStructureError);
    assert.throws(() => view([node('Relu', ['x'], ['w'], 'A')], ['x'], ['w'], [weight('w')]).validate(), /both an initializer and a node output/);
  });

  it('detects a graph output nobody produces', () => {
    assert.throws(() => view([node('Relu', ['x'], ['a'], 'A')], ['x'], ['y']).validate(), /'y' is never produced/);
  });
});

describe('subgraphs', () => {
  //   x ─ P ─ o ─────────────────────┐ (read only inside the If's branches)
  //   x ─ Q ─ cond ─ If(cond) ─ y     │
  //                  then: Identity(o) ─ t ─ Add(t, o2) ─ r      o2: read by a nested If
  //                        └─ If(cond): then: Identity(o2) ─ s, else: Identity(x) ─ s
  //                  else: Neg(x) ─ r
  //   x ─ R ─ o2 ───────────────────────
  function ifGraph(order: 'sorted' | 'shuffled'): { g: GraphView; P: NodeProto; R: NodeProto; If: NodeProto } {
    const inner = makeNode('If', ['cond'], ['s'], {
      then_branch: makeGraph([node('Identity', ['o2'], ['s'])], 'inner_then', [], [vi('s')]),
      else_branch: makeGraph([node('Identity', ['x'], ['s'])], 'inner_else', [], [vi('s')]),
    });
    const thenBranch = makeGraph([node('Identity', ['o'], ['t']), inner, node('Add', ['t', 's'], ['r'])], 'then', [], [vi('r')]);
    const elseBranch = makeGraph([node('Neg', ['x'], ['r'])], 'else', [], [vi('r')]);
    const P = node('Relu', ['x'], ['o'], 'P');
    const Q = node('Greater', ['x', 'x'], ['cond'], 'Q');
    const R = node('Abs', ['x'], ['o2'], 'R');
    const If = makeNode('If', ['cond'], ['y'], { then_branch: thenBranch, else_branch: elseBranch }, 'If');
    const nodes = order === 'sorted' ? [P, Q, R, If] : [If, Q, P, R];
    return { g: view(nodes, ['x'], ['y']), P, R, If };
  }

  it('outer-scope reads count as consumers', () => {
    const { g, If } = ifGraph('sorted');
    assert.deepEqual(g.consumers('o'), [If]);
    assert.deepEqual(g.consumers('o2'), [If], 'from a nested subgraph too');
    assert.ok(g.consumers('x').includes(If), 'the else branch reads x');
    assert.deepEqual(g.consumers('t'), [], 'values local to the subgraph are not outer reads');
    assert.ok(!g.consumers('s').includes(If));
  });

  it('removeDead keeps producers of values a live subgraph reads', () => {
    const { g, P, R } = ifGraph('sorted');
    assert.deepEqual(g.removeDead([P, R]), []);
    // Once the If is gone, they are dead.
    const { g: h, If } = ifGraph('sorted');
    h.outputs = [];
    h.invalidate();
    assert.deepEqual(names(h.removeDead([If])).sort(), ['If', 'P', 'Q', 'R']);
  });

  it('topologicalOrder puts producers of subgraph reads first', () => {
    const { g } = ifGraph('shuffled');
    const order = names(g.topologicalOrder());
    assert.ok(order.indexOf('P') < order.indexOf('If'));
    assert.ok(order.indexOf('R') < order.indexOf('If'));
    g.validate();
  });
});
