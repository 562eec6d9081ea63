// Option parsers shared by the commands: each turns a bad value into a UsageError (exit 2).

import { InvalidArgumentError } from 'commander';

export function parseNonNegative(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}

export function parseSeed(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
