// onnxruntime-node, loaded on first use (commands that don't verify don't pay its load time), and
// the one way gapify opens and runs a session.
//
// Sessions run with graph optimizations disabled, so onnxruntime's own fusions can't make a wrong
// rewrite look right (or a right one wrong), on the CPU provider only, and with onnxruntime's
// own logging off (fatal only): its warnings (e.g. unused initializers) are not ours to print, and
// its errors reach the user once, as the one-line RuntimeError thrown here.

import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { ModelError, RuntimeError } from '../errors.js';
import type { ModelSource } from '../onnx/model-io.js';

export type Ort = typeof import('onnxruntime-node');

let ortModule: Promise<Ort> | undefined;

/** Imports onnxruntime-node once. */
export function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node');
  return ortModule;
}

export type { ModelSource };

export function sourceLabel(source: ModelSource): string {
  return source.label ?? ('path' in source ? source.path : '');
}

export const SESSION_OPTIONS: InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'disabled',
  executionProviders: ['cpu'],
  logSeverityLevel: 4,
};

const RUN_OPTIONS: InferenceSession.RunOptions = { logSeverityLevel: 4 };

/** First line of an error's message (onnxruntime's can run to many lines). */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return (msg.split('\n').find((l) => l.trim() !== '') ?? msg).trim();
}

let gc: (() => void) | null | undefined;

/**
 * Runs a full garbage collection, so memory JavaScript no longer uses (a released input model, the
 * previous session's outputs) is returned before onnxruntime allocates a model's worth of its own:
 * V8 can't see native allocations and would otherwise collect whenever it pleases. Node has no API
 * for it without --expose-gc; this is how jest's leak detector gets `gc` (the flag, then a fresh
 * context that has it). Costs a few ms; a no-op if it ever stops working.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      gc = typeof fn === 'function' ? (fn as () => void) : null;
    } catch {
      gc = null;
    }
  }
  gc?.();
}

/** Opens a session on `source`, hands it to `fn`, and always releases it before returning. */
export async function withSession<T>(source: ModelSource, fn: (session: InferenceSession) => Promise<T>): Promise<T> {
  const ort = await loadOrt();
  const label = sourceLabel(source);
  if ('path' in source && !existsSync(source.path)) throw new ModelError(source.path, 'no such file');
  collectGarbage();
  let session: InferenceSession;
  try {
    session = 'path' in source
      ? await ort.InferenceSession.create(source.path, SESSION_OPTIONS)
      : await ort.InferenceSession.create(source.bytes, SESSION_OPTIONS);
  } catch (e) {
    throw new RuntimeError(`onnxruntime could not load ${label}: ${firstLine(e)}`, { cause: e });
  }
  try {
    return await fn(session);
  } finally {
    await session.release();
  }
}

/** session.run, its failures as RuntimeError naming the model. */
export async function runSession(
  session: InferenceSession,
  label: string,
  feeds: Record<string, Tensor>,
  fetches?: readonly string[],
): Promise<InferenceSession.ReturnType> {
  try {
    return fetches === undefined ? await session.run(feeds, RUN_OPTIONS) : await session.run(feeds, [...fetches], RUN_OPTIONS);
  } catch (e) {
    throw new RuntimeError(`onnxruntime failed to run ${label}: ${firstLine(e)}`, { cause: e });
  }
}
