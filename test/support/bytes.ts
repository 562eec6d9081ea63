// Byte-level helpers for tests that build or damage protobuf by hand, and their seeded randomness.

import { mulberry32 } from '../../src/verify/inputs.js';

/** A seeded uniform generator in [0, 1) (mulberry32, the verification inputs' PRNG). */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** The protobuf varint encoding of `n` (negative values as their 64-bit two's complement). */
export function varint(n: number | bigint): number[] {
  let u = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (u >= 128n) {
    out.push(Number(u & 0x7fn) | 0x80);
    u >>= 7n;
  }
  out.push(Number(u));
  return out;
}

/** The parts one after the other, as a plain Uint8Array (not a Buffer). */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
