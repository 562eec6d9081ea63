// Tensors whose bytes live in side files (data_location = EXTERNAL). Only the tensors a rule needs
// are read, each by its own offset and length, so a model of any total size costs the memory of
// the tensors gapify touches. Locations are resolved against the model's folder and must stay in it.

import { closeSync, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { ModelError } from '../errors.js';
import type { TensorProto } from './schema.js';

export interface ExternalRef {
  /** Location as written in the model (relative to the model's folder). */
  readonly location: string;
  /** Absolute path after resolution and the containment check. */
  readonly file: string;
  readonly offset: number;
  /** Undefined: to the end of the file. */
  readonly length: number | undefined;
}

export type ExternalDataReader = (t: TensorProto) => Uint8Array;

export function isExternal(t: TensorProto): boolean {
  return t.data_location === 1;
}

function entry(t: TensorProto, key: string): string | undefined {
  return t.external_data.find((e) => e.key === key)?.value;
}

function parseIntField(modelPath: string, t: TensorProto, key: string): number | undefined {
  const v = entry(t, key);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data ${key} '${v}' is not a byte count`);
  }
  return Number(v);
}

/** Where a tensor's external bytes are; refuses locations that escape the model's folder. */
export function externalRef(modelPath: string, t: TensorProto): ExternalRef {
  const location = entry(t, 'location');
  if (!location) throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data without a location`);
  const baseDir = dirname(modelPath);
  if (isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.startsWith('\\')) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' is an absolute path; it must be relative to the model's folder`);
  }
  const file = resolve(baseDir, location);
  const escapes = (p: string, base: string): boolean => {
    const rel = relative(base, p);
    return rel === '' || rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel);
  };
  if (escapes(file, baseDir)) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' points outside the model's folder`);
  }
  let real: string;
  try {
    real = realpathSync(file);
  } catch {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data file '${location}' not found`);
  }
  if (escapes(real, realpathSync(baseDir))) {
    throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data location '${location}' is a link to a file outside the model's folder`);
  }
  return { location, file: real, offset: parseIntField(modelPath, t, 'offset') ?? 0, length: parseIntField(modelPath, t, 'length') };
}

/** Reads one tensor's bytes from its data file. */
export function readExternal(modelPath: string, t: TensorProto): Uint8Array {
  const ref = externalRef(modelPath, t);
  const fd = openSync(ref.file, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = ref.length ?? size - ref.offset;
    if (ref.offset + length > size || length < 0) {
      throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data '${ref.location}' is too short (needs bytes ${ref.offset}..${ref.offset + length}, file has ${size})`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buf, done, length - done, ref.offset + done);
      if (n === 0) throw new ModelError(modelPath, `tensor '${t.name ?? ''}': external data '${ref.location}' ended early`);
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

export function resolveExternalData(modelPath: string): ExternalDataReader {
  return (t) => readExternal(modelPath, t);
}
