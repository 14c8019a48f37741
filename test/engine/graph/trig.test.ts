/** Sin and Cos: forward vs Math.sin/cos and gradients vs central differences (see gradcheck.ts). */
import { describe, expect, it } from 'vitest';
import * as G from '../../../src/engine/graph/index.ts';
import { U, gradcheck } from './gradcheck.ts';

describe('trigonometric ops', () => {
  it('Sin over several periods', async () => {
    const r = await gradcheck({ inputs: [{ shape: [2, 3, 4], gen: U(-7, 7) }], build: (_, [x]) => G.sin(x!), reference: ([x]) => Float64Array.from(x!, Math.sin) });
    expect(r.worst).toBeLessThanOrEqual(1);
  });
  it('Cos over several periods', async () => {
    const r = await gradcheck({ inputs: [{ shape: [2, 3, 4], gen: U(-7, 7) }], build: (_, [x]) => G.cos(x!), reference: ([x]) => Float64Array.from(x!, Math.cos) });
    expect(r.worst).toBeLessThanOrEqual(1);
  });
  it('second use: sin(30·x)·cos(x), a SIREN-like first layer', async () => {
    const r = await gradcheck({
      inputs: [{ shape: [5, 6], gen: U(-0.2, 0.2) }],
      build: (_, [x]) => G.mul(G.sin(G.mul(x!, 30)), G.cos(x!)),
      reference: ([x]) => Float64Array.from(x!, (v) => Math.sin(30 * v) * Math.cos(v)),
      h: 1e-3,
    });
    expect(r.worst).toBeLessThanOrEqual(1);
  });
});
