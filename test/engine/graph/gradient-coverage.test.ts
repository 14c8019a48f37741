/**
 * Every op with a gradient rule has a gradient check. This file imports the gradient-check test files
 * beside it, so their tests run here first (each passing gradcheck() records the ops on its gradient
 * path), then compares that record with the registry.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { OP_NAMES, type OpName } from '../../../src/engine/graph/ops/names.ts';
import { opsWithGradient, registeredOps } from '../../../src/engine/graph/ops/registry.ts';
import { evaluatedOps, gradcheckedOps } from './gradcheck.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const self = basename(fileURLToPath(import.meta.url));
// gradcheck.test.ts tests the checker with deliberately wrong test-only ops; it checks no real op.
const checkFiles = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts') && f !== self && f !== 'gradcheck.test.ts')
  .filter((f) => /\bgradcheck\(/.test(readFileSync(`${here}${f}`, 'utf8')))
  .sort();
for (const f of checkFiles) await import(`./${f}`);

// Their gradient is by design not the derivative of their forward (detach, straight-through), so finite
// differences cannot check it; special.test.ts compares it with exact values through evaluate().
const NOT_THE_DERIVATIVE: readonly OpName[] = ['StopGradient', 'ReplaceGrad'];

describe('gradient coverage', () => {
  it('found the gradient-check files', () => {
    expect(checkFiles).toEqual(expect.arrayContaining(['elementwise.test.ts', 'conv.test.ts', 'special.test.ts']));
  });
  it('every op name is registered; other registered ops are test-only (Test…)', () => {
    const registered = registeredOps();
    expect(OP_NAMES.filter((op) => !registered.includes(op))).toEqual([]);
    expect(registered.filter((op) => !(OP_NAMES as readonly string[]).includes(op) && !op.startsWith('Test'))).toEqual([]);
  });
  it('every op with a vjp is on the gradient path of a passing finite-difference check', () => {
    const unchecked = opsWithGradient().filter((op) => !gradcheckedOps.has(op) && !NOT_THE_DERIVATIVE.includes(op));
    expect(unchecked).toEqual([]);
  });
  it('ops whose gradient is not the derivative have their gradient compared with exact values', () => {
    expect(NOT_THE_DERIVATIVE.filter((op) => !evaluatedOps.has(op))).toEqual([]);
  });
});
