// The protobuf wire codec for ONNX messages.
//
// protobufjs parses proto/onnx.proto and gives us the reflection (field numbers, types, packing);
// the wire format itself is read and written here, because gapify needs three things protobufjs's
// generated codec does not give:
//   - unknown fields are kept (raw bytes), so models from a newer ONNX survive a round trip;
//   - decoded messages remember the bytes they came from and are frozen, so an unchanged message —
//     a 400 MB initializer, or the whole model — is written back as those very bytes (zero-copy,
//     byte-identical) while changed messages are rebuilt from fresh objects around them;
//   - encoding produces a list of chunks (views into the input file plus small new pieces) instead
//     of one buffer, so writing a rewritten model costs about a file copy.
// int64 values become `number` (or `bigint` past 2^53) here, once, and nowhere else.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import protobuf from 'protobufjs';
import { UNKNOWN, type I64 } from './schema.js';
import { DecodeBudgetError, WireError } from '../errors.js';

export { DecodeBudgetError, WireError };

/** The bytes a decoded message was read from; non-enumerable so a spread copy does not inherit it. */
export const SOURCE: unique symbol = Symbol('onnx.sourceBytes');

export interface DecodeLimits {
  /** Deepest message nesting accepted (subgraphs inside attributes nest). */
  maxDepth: number;
  /**
   * Heap the decoded messages may take, estimated while they are built (bytes). A few bytes on
   * the wire can cost hundreds on the heap — an empty repeated message is 2 bytes in the file and
   * a frozen object with its arrays in memory — so a small crafted file could exhaust the heap,
   * which kills the process outright. Past this budget decoding stops with a WireError instead.
   * Default: half of V8's heap limit (raise it with node --max-old-space-size).
   */
  maxHeapBytes: number;
}

export interface DecodeOptions extends Partial<DecodeLimits> {
  /**
   * Remember each message's bytes (SOURCE), so that the unchanged ones are written back verbatim
   * (default true). Without them a message costs ~140 bytes less: for reading only (lint).
   */
  keepSource?: boolean;
  /** Filled with the heap the decoded messages take, as estimated against maxHeapBytes. */
  stats?: { heapBytes: number };
}

const DEFAULT_LIMITS: DecodeLimits = { maxDepth: 64, maxHeapBytes: Math.floor(getHeapStatistics().heap_size_limit / 2) };

/** One decode's state: what it may still allocate (see DecodeLimits.maxHeapBytes), and its options. */
interface DecodeState {
  left: number;
  readonly limit: number;
  readonly maxDepth: number;
  readonly keepSource: boolean;
  /** Strings of the fields in INTERNED, one copy each (op types repeat millions of times). */
  readonly interned: Map<string, string>;
}

// Heap estimates, in bytes, measured on V8 (x64, Node 20) with a margin, so that the estimate
// stays above what decoding really takes (npm run bench prints both): a frozen message object;
// its SOURCE view and the property holding it; a repeated field's own array once it has entries
// (absent ones share one empty array); an entry of it; a number; a view (bytes field, unknown
// field, packed float run); a string's header.
const COST_MESSAGE = 112;
const COST_SOURCE = 160;
const COST_LIST = 48;
const COST_ENTRY = 8;
const COST_NUMBER = 32;
const COST_VIEW = 128;
const COST_STRING = 32;

function charge(state: DecodeState, bytes: number, path: string): void {
  state.left -= bytes;
  if (state.left < 0) {
    throw new DecodeBudgetError(`too big to decode: its messages would take more than ${Math.round(state.limit / 2 ** 20)} MB of memory`, path);
  }
}

/** Fields whose few distinct values repeat across a model: decoded to one shared string each. */
const INTERNED = new Set(['onnx.NodeProto.op_type', 'onnx.NodeProto.domain', 'onnx.AttributeProto.name', 'onnx.OperatorSetIdProto.domain', 'onnx.TensorShapeProto.Dimension.dim_param']);
/** Distinct strings kept per decode: a crafted model with millions of op types gains nothing from the table. */
const MAX_INTERNED = 4096;

function intern(state: DecodeState, s: string): string {
  const known = state.interned.get(s);
  if (known !== undefined) return known;
  if (state.interned.size < MAX_INTERNED) state.interned.set(s, s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Schema: per message type, its fields keyed by number.

type ScalarKind =
  | 'double' | 'float' | 'int32' | 'uint32' | 'sint32' | 'int64' | 'uint64' | 'sint64'
  | 'fixed32' | 'sfixed32' | 'fixed64' | 'sfixed64' | 'bool' | 'string' | 'bytes' | 'enum';

interface FieldInfo {
  readonly name: string;
  readonly id: number;
  readonly kind: ScalarKind | 'message';
  readonly repeated: boolean;
  readonly packed: boolean;
  /** Decode to a shared string (see INTERNED). */
  readonly intern: boolean;
  /** For kind 'message'. */
  message?: MessageInfo;
}

interface MessageInfo {
  readonly name: string;
  readonly byId: Map<number, FieldInfo>;
  /** Fields in field-number order: the order protobuf writers emit them. */
  readonly ordered: FieldInfo[];
}

/** Protobuf wire types (the low 3 bits of a tag). */
export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

function wireTypeOf(kind: FieldInfo['kind']): number {
  switch (kind) {
    case 'double': case 'fixed64': case 'sfixed64': return WIRE_I64;
    case 'float': case 'fixed32': case 'sfixed32': return WIRE_I32;
    case 'string': case 'bytes': case 'message': return WIRE_LEN;
    default: return WIRE_VARINT;
  }
}

function schemaPath(): string {
  // src/onnx/codec.ts is compiled to dist/src/onnx/codec.js; the schema lives in proto/.
  for (const rel of ['../../proto/onnx.proto', '../../../proto/onnx.proto']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('proto/onnx.proto not found next to the gapify package');
}

let schemaCache: Map<string, MessageInfo> | undefined;

function loadSchema(): Map<string, MessageInfo> {
  if (schemaCache) return schemaCache;
  const root = new protobuf.Root().loadSync(schemaPath(), { keepCase: true });
  root.resolveAll();
  const infos = new Map<string, MessageInfo>();
  const types: protobuf.Type[] = [];
  const collect = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) types.push(nested);
      if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) collect(nested);
    }
  };
  collect(root);
  for (const t of types) {
    infos.set(t.fullName.replace(/^\./, ''), { name: t.fullName.replace(/^\./, ''), byId: new Map(), ordered: [] });
  }
  for (const t of types) {
    const info = infos.get(t.fullName.replace(/^\./, ''))!;
    for (const f of [...t.fieldsArray].sort((a, b) => a.id - b.id)) {
      if (f.map) throw new Error(`map fields are not supported (${t.name}.${f.name})`);
      const resolved = f.resolvedType;
      let kind: FieldInfo['kind'];
      let message: MessageInfo | undefined;
      if (resolved instanceof protobuf.Type) {
        kind = 'message';
        message = infos.get(resolved.fullName.replace(/^\./, ''));
      } else if (resolved instanceof protobuf.Enum) {
        kind = 'enum';
      } else {
        kind = f.type as ScalarKind;
      }
      const field: FieldInfo = {
        name: f.name, id: f.id, kind, repeated: f.repeated, packed: f.repeated && f.packed && kind !== 'message' && kind !== 'string' && kind !== 'bytes',
        intern: INTERNED.has(`${info.name}.${f.name}`),
      };
      if (message) field.message = message;
      info.byId.set(f.id, field);
      info.ordered.push(field);
    }
  }
  schemaCache = infos;
  return infos;
}

function messageInfo(typeName: string): MessageInfo {
  const info = loadSchema().get(typeName);
  if (!info) throw new Error(`unknown message type ${typeName}`);
  return info;
}

// ---------------------------------------------------------------------------------------------
// Decoding

// Strings are names, and names are bytes: two names that differ only in bytes that are not UTF-8
// must stay two names, and a name must be written back as the bytes it was read as (onnxruntime
// matches names by bytes). So string fields are decoded like Python's 'surrogateescape': valid
// UTF-8 as usual, each byte of an invalid sequence as the lone surrogate U+DC80 + (byte − 0x80),
// which well-formed text can't contain; encoding turns those back into the bytes. The mapping is
// one to one, so a name built on a decoded one (`${name}_1`) keeps its bytes too. (A leading byte
// order mark is a byte of the name as well: not stripped.)
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A string field's bytes as a JS string (see above); a U+FFFD in the fast decode means look closer. */
export function decodeName(bytes: Uint8Array): string {
  const s = utf8.decode(bytes);
  return s.includes('\uFFFD') ? decodeEscaped(bytes) : s;
}

/**
 * decodeName of buf[start, end): from a Buffer (a model file) without making a view first — a
 * view per string is most of the decoder's garbage on a graph of millions of names. Buffer's
 * UTF-8 decoding keeps a byte order mark and replaces invalid bytes with U+FFFD, as `utf8` does.
 */
function decodeNameAt(buf: Uint8Array, start: number, end: number): string {
  if (!Buffer.isBuffer(buf)) return decodeName(buf.subarray(start, end));
  const s = buf.toString('utf8', start, end);
  return s.includes('\uFFFD') ? decodeEscaped(buf.subarray(start, end)) : s;
}

/** Length of the valid UTF-8 sequence at `i` (1–4), or 0 if the byte there starts none (RFC 3629). */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    // No overlongs (E0 needs A0..BF), no surrogates (ED needs 80..9F).
    const ok = c === 0xe0 ? cont(1, 0xa0) : c === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    return ok && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const ok = c === 0xf0 ? cont(1, 0x90) : c === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    return ok && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

function decodeEscaped(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length;) {
    const n = sequenceAt(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else {
      out += utf8.decode(b.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

const utf8enc = new TextEncoder();
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** The bytes of a string decoded by decodeName (escaped bytes back to themselves). */
export function encodeName(s: string): Uint8Array {
  if (isWellFormed(s)) return utf8enc.encode(s);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc80 && c <= 0xdcff) {
      out.push(c - 0xdc00);
      continue;
    }
    // Everything else as TextEncoder has it (a pair as one code point, a stray surrogate as U+FFFD).
    const pair = isHigh(c) && i + 1 < s.length && isLow(s.charCodeAt(i + 1));
    out.push(...utf8enc.encode(s.slice(i, pair ? i + 2 : i + 1)));
    if (pair) i++;
  }
  return Uint8Array.from(out);
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;
const TWO_32 = 4294967296;

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint as a JS number when it fits in 53 bits; else a bigint of its 64 raw bits. */
  varint(path: string): number | bigint {
    const buf = this.buf;
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint', path);
      const b = buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    // 49 bits read and more follow: finish in bigint.
    let big = BigInt(result);
    let shift = 49n;
    for (let i = 7; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError('truncated varint', path);
      const b = buf[this.pos++]!;
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, big);
      shift += 7n;
    }
    throw new WireError('varint longer than 10 bytes', path);
  }

  /** A small non-negative varint (tags, lengths): anything past 2^53 is corrupt input. */
  uint(path: string): number {
    const v = this.varint(path);
    if (typeof v === 'bigint') throw new WireError(`value ${v} out of range`, path);
    return v;
  }

  fixed32(path: string): number {
    if (this.pos + 4 > this.end) throw new WireError('truncated fixed32', path);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  skip(wire: number, path: string): void {
    switch (wire) {
      case WIRE_VARINT: this.varint(path); return;
      case WIRE_I64: this.need(8, path); this.pos += 8; return;
      case WIRE_I32: this.need(4, path); this.pos += 4; return;
      case WIRE_LEN: {
        const n = this.uint(path);
        this.need(n, path);
        this.pos += n;
        return;
      }
      default: throw new WireError(`unsupported wire type ${wire}`, path);
    }
  }

  need(n: number, path: string): void {
    if (n > this.end - this.pos) {
      throw new WireError(`declares ${n} bytes but only ${this.end - this.pos} remain`, path);
    }
  }
}

function toI64(v: number | bigint, kind: string): I64 {
  if (typeof v === 'number') return v;
  const signed = kind === 'uint64' ? v : BigInt.asIntN(64, v);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed;
}

function toInt32(v: number | bigint, kind: string): number {
  if (kind === 'uint32') return typeof v === 'bigint' ? Number(BigInt.asUintN(32, v)) : v >>> 0;
  if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v));
  return v > 0x7fffffff ? v | 0 : v;
}

function decodeVarintScalar(field: FieldInfo, raw: number | bigint): number | bigint | boolean {
  switch (field.kind) {
    case 'int64': case 'uint64': return toI64(raw, field.kind);
    case 'sint64': {
      const u = typeof raw === 'bigint' ? raw : BigInt(raw);
      return toI64((u >> 1n) ^ -(u & 1n), 'int64');
    }
    case 'sint32': {
      const u = Number(typeof raw === 'bigint' ? BigInt.asUintN(32, raw) : raw) >>> 0;
      return (u >>> 1) ^ -(u & 1);
    }
    case 'bool': return raw !== 0 && raw !== 0n;
    default: return toInt32(raw, field.kind);
  }
}

function readFixed(r: Reader, field: FieldInfo, path: string): number | bigint {
  const view = new DataView(r.buf.buffer, r.buf.byteOffset, r.buf.byteLength);
  switch (field.kind) {
    case 'float': { r.need(4, path); const v = view.getFloat32(r.pos, true); r.pos += 4; return v; }
    case 'double': { r.need(8, path); const v = view.getFloat64(r.pos, true); r.pos += 8; return v; }
    case 'fixed32': return r.fixed32(path);
    case 'sfixed32': return r.fixed32(path) | 0;
    case 'fixed64': case 'sfixed64': {
      r.need(8, path);
      const v = view.getBigUint64(r.pos, true);
      r.pos += 8;
      return toI64(field.kind === 'fixed64' ? v : BigInt.asIntN(64, v), 'uint64');
    }
    default: throw new WireError(`internal: ${field.kind} is not fixed-width`, path);
  }
}

/** Packed floats/doubles become a typed array over the file bytes (copied only when unaligned). */
function typedArrayOf(kind: 'float' | 'double', buf: Uint8Array, start: number, length: number): Float32Array | Float64Array {
  const size = kind === 'float' ? 4 : 8;
  const count = Math.floor(length / size);
  const offset = buf.byteOffset + start;
  if (offset % size === 0) {
    return kind === 'float' ? new Float32Array(buf.buffer, offset, count) : new Float64Array(buf.buffer, offset, count);
  }
  const copy = buf.slice(start, start + count * size);
  return kind === 'float' ? new Float32Array(copy.buffer, 0, count) : new Float64Array(copy.buffer, 0, count);
}

// Memory per decoded message decides how big a graph gapify can read (a NodeProto of a long chain
// is ~28 bytes on the wire). So: an absent repeated field is one frozen empty array shared by all
// messages (a NodeProto has five repeated fields, most of them empty), and a filled one is copied
// to its exact length once decoded (an array grown by push keeps room for 17 entries).
const EMPTY_LIST: readonly unknown[] = Object.freeze([]);
const EMPTY_FLOATS = Object.freeze(new Float32Array(0));
const EMPTY_DOUBLES = Object.freeze(new Float64Array(0));

function newRepeated(field: FieldInfo): unknown {
  if (field.kind === 'float') return EMPTY_FLOATS;
  if (field.kind === 'double') return EMPTY_DOUBLES;
  return EMPTY_LIST;
}

/** The array of repeated field `name` of `msg`, made growable on first use. */
function growable(msg: Record<string | symbol, unknown>, name: string, state: DecodeState, path: string): unknown[] {
  let arr = msg[name] as unknown[];
  if (arr === EMPTY_LIST) {
    charge(state, COST_LIST, path);
    msg[name] = arr = [];
  }
  return arr;
}

function decodeMessage(info: MessageInfo, r: Reader, end: number, path: string, depth: number, state: DecodeState): Record<string | symbol, unknown> {
  if (depth > state.maxDepth) throw new WireError(`messages nested deeper than ${state.maxDepth}`, path);
  charge(state, COST_MESSAGE + (state.keepSource ? COST_SOURCE : 0), path);
  const start = r.pos;
  const msg: Record<string | symbol, unknown> = {};
  for (const f of info.ordered) if (f.repeated) msg[f.name] = newRepeated(f);
  let unknown: Uint8Array[] | undefined;
  // Repeated floats arrive as packed runs and/or single values, in any mix: kept in wire order and
  // joined at the end (a single packed run stays a view into the file).
  let floatParts: Map<string, (Float32Array | Float64Array | number)[]> | undefined;
  const floatPart = (name: string, part: Float32Array | Float64Array | number): void => {
    floatParts ??= new Map();
    const parts = floatParts.get(name);
    if (parts) parts.push(part);
    else floatParts.set(name, [part]);
  };

  while (r.pos < end) {
    const tagStart = r.pos;
    const tag = r.uint(path);
    const id = Math.floor(tag / 8);
    const wire = tag & 7;
    if (id === 0) throw new WireError('field number 0', path);
    const field = info.byId.get(id);
    const fieldPath = field ? `${path}.${field.name}` : `${path}.#${id}`;
    if (!field || (wire !== wireTypeOf(field.kind) && !(field.repeated && wire === WIRE_LEN && field.kind !== 'message' && field.kind !== 'string' && field.kind !== 'bytes'))) {
      // Unknown field, or a known number with a foreign wire type: keep it verbatim.
      r.skip(wire, fieldPath);
      charge(state, COST_VIEW, fieldPath);
      (unknown ??= []).push(r.buf.subarray(tagStart, r.pos));
      continue;
    }

    if (wire === WIRE_LEN && field.kind !== 'string' && field.kind !== 'bytes' && field.kind !== 'message') {
      // Packed repeated scalars.
      const len = r.uint(fieldPath);
      r.need(len, fieldPath);
      const stop = r.pos + len;
      if (field.kind === 'float' || field.kind === 'double') {
        if (len % (field.kind === 'float' ? 4 : 8) !== 0) throw new WireError(`packed ${field.kind}s: ${len} bytes is not a whole number of values`, fieldPath);
        charge(state, COST_VIEW, fieldPath);
        floatPart(field.name, typedArrayOf(field.kind, r.buf, r.pos, len));
        r.pos = stop;
      } else {
        const arr = growable(msg, field.name, state, fieldPath);
        const sub = new Reader(r.buf, r.pos, stop);
        while (sub.pos < stop) {
          charge(state, COST_NUMBER, fieldPath);
          arr.push(wireTypeOf(field.kind) === WIRE_VARINT ? decodeVarintScalar(field, sub.varint(fieldPath)) : readFixed(sub, field, fieldPath));
        }
        r.pos = stop;
      }
      continue;
    }

    let value: unknown;
    switch (field.kind) {
      case 'message': {
        const len = r.uint(fieldPath);
        r.need(len, fieldPath);
        const idx = field.repeated ? `[${(msg[field.name] as unknown[]).length}]` : '';
        const stop = r.pos + len;
        value = decodeMessage(field.message!, r, stop, fieldPath + idx, depth + 1, state);
        break;
      }
      case 'string': {
        const len = r.uint(fieldPath);
        r.need(len, fieldPath);
        charge(state, COST_STRING + len, fieldPath);
        value = decodeNameAt(r.buf, r.pos, r.pos + len);
        if (field.intern) value = intern(state, value as string);
        r.pos += len;
        break;
      }
      case 'bytes': {
        const len = r.uint(fieldPath);
        r.need(len, fieldPath);
        charge(state, COST_VIEW, fieldPath);
        value = r.buf.subarray(r.pos, r.pos + len);
        r.pos += len;
        break;
      }
      case 'float': case 'double': case 'fixed32': case 'sfixed32': case 'fixed64': case 'sfixed64':
        value = readFixed(r, field, fieldPath);
        break;
      default:
        value = decodeVarintScalar(field, r.varint(fieldPath));
    }
    if (field.repeated && field.kind !== 'message' && field.kind !== 'string' && field.kind !== 'bytes') charge(state, COST_NUMBER, fieldPath);
    else if (field.repeated) charge(state, COST_ENTRY, fieldPath);
    // A singular message given twice is merged by protobuf parsers (onnxruntime would see a graph
    // with every node twice); keeping one copy would make gapify read another model than they do.
    if (!field.repeated && field.kind === 'message' && msg[field.name] !== undefined) throw new WireError('given more than once (protobuf parsers merge the copies)', fieldPath);
    if (!field.repeated) msg[field.name] = value;
    else if (field.kind === 'float' || field.kind === 'double') floatPart(field.name, value as number);
    else growable(msg, field.name, state, fieldPath).push(value);
  }
  if (r.pos !== end) throw new WireError('message overruns its declared length', path);
  if (floatParts) {
    for (const [name, parts] of floatParts) {
      const isFloat = info.ordered.find((x) => x.name === name)!.kind === 'float';
      if (parts.length === 1 && typeof parts[0] !== 'number') {
        msg[name] = parts[0];
        continue;
      }
      let n = 0;
      for (const p of parts) n += typeof p === 'number' ? 1 : p.length;
      const out = isFloat ? new Float32Array(n) : new Float64Array(n);
      let at = 0;
      for (const p of parts) {
        if (typeof p === 'number') out[at++] = p;
        else { out.set(p, at); at += p.length; }
      }
      msg[name] = out;
    }
  }
  if (unknown) msg[UNKNOWN] = Object.freeze(unknown);
  if (state.keepSource) Object.defineProperty(msg, SOURCE, { value: r.buf.subarray(start, end), enumerable: false });
  for (const f of info.ordered) {
    const v = msg[f.name];
    if (f.repeated && v !== EMPTY_LIST && Array.isArray(v)) msg[f.name] = Object.freeze(v.slice());
  }
  return Object.freeze(msg);
}

/** Decodes `bytes` as the message `typeName` (e.g. 'onnx.ModelProto'). Throws WireError. */
export function decode<T>(typeName: string, bytes: Uint8Array, options: DecodeOptions = {}): T {
  const info = messageInfo(typeName);
  const r = new Reader(bytes, 0, bytes.length);
  const { maxDepth, maxHeapBytes } = { ...DEFAULT_LIMITS, ...options };
  const state: DecodeState = { left: maxHeapBytes, limit: maxHeapBytes, maxDepth, keepSource: options.keepSource ?? true, interned: new Map() };
  const msg = decodeMessage(info, r, bytes.length, typeName.replace(/^onnx\./, ''), 0, state) as T;
  if (options.stats) options.stats.heapBytes = maxHeapBytes - state.left;
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Encoding

export interface EncodeOptions {
  /** Write unchanged decoded messages back as their original bytes (default true). */
  reuseSource?: boolean;
}

/** Byte fields and reused messages at least this large become chunks of their own instead of being copied. */
const VIEW_CHUNK_MIN = 16 * 1024;

function varintSize(v: number): number {
  if (v < 0) return 10;
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function bigVarintSize(v: bigint): number {
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u >= 128n) {
    u >>= 7n;
    n++;
  }
  return n;
}

function isMessage(v: unknown): v is Record<string | symbol, unknown> {
  return typeof v === 'object' && v !== null;
}

class SizeCache {
  readonly sizes = new Map<object, number>();
  readonly strings = new Map<string, Uint8Array>();
  constructor(readonly reuse: boolean) {}

  utf8(s: string): Uint8Array {
    let b = this.strings.get(s);
    if (!b) {
      b = encodeName(s);
      this.strings.set(s, b);
    }
    return b;
  }
}

function scalarSize(field: FieldInfo, v: unknown, cache: SizeCache): number {
  switch (field.kind) {
    case 'float': case 'fixed32': case 'sfixed32': return 4;
    case 'double': case 'fixed64': case 'sfixed64': return 8;
    case 'bool': return 1;
    case 'string': { const b = cache.utf8(v as string); return varintSize(b.length) + b.length; }
    case 'bytes': { const n = (v as Uint8Array).length; return varintSize(n) + n; }
    case 'sint32': { const n = v as number; return varintSize(((n << 1) ^ (n >> 31)) >>> 0); }
    case 'sint64': { const n = BigInt(v as I64); return bigVarintSize((n << 1n) ^ (n >> 63n)); }
    default: return typeof v === 'bigint' ? bigVarintSize(v) : varintSize(v as number);
  }
}

function sizeOf(info: MessageInfo, msg: Record<string | symbol, unknown>, cache: SizeCache): number {
  const src = msg[SOURCE] as Uint8Array | undefined;
  // A message written as its source bytes costs nothing to size: not cached, which for a graph of
  // millions of unchanged nodes would be a map entry per node.
  if (cache.reuse && src && Object.isFrozen(msg)) return src.length;
  const known = cache.sizes.get(msg);
  if (known !== undefined) return known;
  let size = 0;
  for (const f of info.ordered) {
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    const tagSize = varintSize(f.id * 8);
    if (!f.repeated) {
      size += tagSize + (f.kind === 'message' ? lenPrefixed(sizeOf(f.message!, v as Record<string, unknown>, cache)) : scalarSize(f, v, cache));
      continue;
    }
    const arr = v as ArrayLike<unknown>;
    if (arr.length === 0) continue;
    if (f.packed) {
      let body = 0;
      for (let i = 0; i < arr.length; i++) body += scalarSize(f, arr[i], cache);
      size += tagSize + lenPrefixed(body);
    } else {
      for (let i = 0; i < arr.length; i++) {
        const item = arr[i];
        size += tagSize + (f.kind === 'message' ? lenPrefixed(sizeOf(f.message!, item as Record<string, unknown>, cache)) : scalarSize(f, item, cache));
      }
    }
  }
  const unknown = msg[UNKNOWN] as readonly Uint8Array[] | undefined;
  if (unknown) for (const u of unknown) size += u.length;
  cache.sizes.set(msg, size);
  return size;
}

function lenPrefixed(n: number): number {
  return varintSize(n) + n;
}

/** Accumulates small writes in a scratch buffer and hands big views through as their own chunks. */
class ChunkWriter {
  readonly chunks: Uint8Array[] = [];
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(private readonly blockSize = 64 * 1024) {
    this.buf = new Uint8Array(blockSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) {
      this.buf = new Uint8Array(n);
      this.view = new DataView(this.buf.buffer);
    }
  }

  private flush(): void {
    if (this.pos > 0) this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = new Uint8Array(this.blockSize);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }

  varint(v: number): void {
    if (v < 0) {
      this.bigVarint(BigInt(v));
      return;
    }
    this.ensure(10);
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  bigVarint(v: bigint): void {
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    while (u >= 128n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  float32(v: number): void { this.ensure(4); this.view.setFloat32(this.pos, v, true); this.pos += 4; }
  float64(v: number): void { this.ensure(8); this.view.setFloat64(this.pos, v, true); this.pos += 8; }
  uint32(v: number): void { this.ensure(4); this.view.setUint32(this.pos, v >>> 0, true); this.pos += 4; }
  uint64(v: bigint): void { this.ensure(8); this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true); this.pos += 8; }

  bytes(b: Uint8Array): void {
    if (b.length >= VIEW_CHUNK_MIN) {
      this.flush();
      this.chunks.push(b);
      return;
    }
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

function writeScalar(w: ChunkWriter, field: FieldInfo, v: unknown, cache: SizeCache): void {
  switch (field.kind) {
    case 'float': w.float32(v as number); return;
    case 'double': w.float64(v as number); return;
    case 'fixed32': case 'sfixed32': w.uint32(v as number); return;
    case 'fixed64': case 'sfixed64': w.uint64(BigInt(v as I64)); return;
    case 'bool': w.varint(v ? 1 : 0); return;
    case 'string': { const b = cache.utf8(v as string); w.varint(b.length); w.bytes(b); return; }
    case 'bytes': { const b = v as Uint8Array; w.varint(b.length); w.bytes(b); return; }
    case 'sint32': { const n = v as number; w.varint(((n << 1) ^ (n >> 31)) >>> 0); return; }
    case 'sint64': { const n = BigInt(v as I64); w.bigVarint((n << 1n) ^ (n >> 63n)); return; }
    default:
      if (typeof v === 'bigint') w.bigVarint(v);
      else w.varint(v as number);
  }
}

function writeMessage(w: ChunkWriter, info: MessageInfo, msg: Record<string | symbol, unknown>, cache: SizeCache): void {
  const src = msg[SOURCE] as Uint8Array | undefined;
  if (cache.reuse && src && Object.isFrozen(msg)) {
    w.bytes(src);
    return;
  }
  for (const f of info.ordered) {
    const v = msg[f.name];
    if (v === undefined || v === null) continue;
    const wire = f.packed ? WIRE_LEN : wireTypeOf(f.kind);
    const tag = f.id * 8 + wire;
    if (!f.repeated) {
      w.varint(tag);
      if (f.kind === 'message') {
        w.varint(sizeOf(f.message!, v as Record<string, unknown>, cache));
        writeMessage(w, f.message!, v as Record<string, unknown>, cache);
      } else {
        writeScalar(w, f, v, cache);
      }
      continue;
    }
    const arr = v as ArrayLike<unknown>;
    if (arr.length === 0) continue;
    if (f.packed) {
      w.varint(tag);
      if ((f.kind === 'float' || f.kind === 'double') && (arr instanceof Float32Array || arr instanceof Float64Array)) {
        const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
        w.varint(bytes.length);
        w.bytes(bytes);
        continue;
      }
      let body = 0;
      for (let i = 0; i < arr.length; i++) body += scalarSize(f, arr[i], cache);
      w.varint(body);
      for (let i = 0; i < arr.length; i++) writeScalar(w, f, arr[i], cache);
      continue;
    }
    for (let i = 0; i < arr.length; i++) {
      const item = arr[i];
      w.varint(tag);
      if (f.kind === 'message') {
        w.varint(sizeOf(f.message!, item as Record<string, unknown>, cache));
        writeMessage(w, f.message!, item as Record<string, unknown>, cache);
      } else {
        writeScalar(w, f, item, cache);
      }
    }
  }
  const unknown = msg[UNKNOWN] as readonly Uint8Array[] | undefined;
  if (unknown) for (const u of unknown) w.bytes(u);
}

/**
 * Encodes `msg` as `typeName`, returning chunks whose concatenation is the serialized message.
 * Large chunks are views into the decoded input: write them out before the input buffer goes away.
 */
export function encodeChunks(typeName: string, msg: object, options: EncodeOptions = {}): Uint8Array[] {
  const info = messageInfo(typeName);
  const cache = new SizeCache(options.reuseSource ?? true);
  if (!isMessage(msg)) throw new Error('encode: not a message');
  sizeOf(info, msg, cache);
  const w = new ChunkWriter();
  writeMessage(w, info, msg, cache);
  return w.finish();
}

export function encode(typeName: string, msg: object, options: EncodeOptions = {}): Uint8Array {
  return Buffer.concat(encodeChunks(typeName, msg, options));
}

/** Total encoded size in bytes, without producing the bytes. */
export function encodedSize(typeName: string, msg: object, options: EncodeOptions = {}): number {
  return sizeOf(messageInfo(typeName), msg as Record<string, unknown>, new SizeCache(options.reuseSource ?? true));
}
