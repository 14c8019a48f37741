/**
 * The warp's bilinear taps are computed in the graph from the fed matrices: they must be the taps the
 * host computed before (test/engine/generate/warp-reference.ts), index for index and weight for weight,
 * for perspective, flips, samples far outside, behind the camera and on exact pixel centres; and the
 * warped cutouts must be those taps applied to the picture.
 */
import { describe, expect, it } from 'vitest';
import { Graph, Session, serialize, type HostArray } from '../../../src/engine/graph/index.ts';
import { Prng } from '../../../src/engine/generate/prng.ts';
import { I3, affineAbout, inv3, mul3, randomPerspective, type Mat3 } from '../../../src/engine/generate/warp.ts';
import { warpCutouts, warpTaps } from '../../../src/engine/generate/warp-taps.ts';
import { bilinearTaps } from './warp-reference.ts';

const s = 48;
const P = s * s;
const S = s + 4; // a source with its zero border of 2

/** Out→src matrices covering the cases, as the float32 values that are fed. */
function testMatrices(): { mats: Mat3[]; fed: Float32Array } {
  const rng = new Prng(3);
  const flip: Mat3 = [-1, 0, s - 1, 0, 1, 0, 0, 0, 1];
  const fwd: Mat3[] = [
    I3, // every sample on a pixel centre: fx = fy = 0
    flip,
    affineAbout(s, 13, 2.5, -1.25, 3, -2),
    randomPerspective(rng, s, 0.7),
    mul3(randomPerspective(rng, s, 0.7), mul3(affineAbout(s, -9, 4, 4), flip)),
    [1, 0, s / 2 + 0.3, 0, 1, -s / 3 - 0.6, 0, 0, 1], // partly outside
    [1, 0, 1000, 0, 1, 0, 0, 0, 1], // entirely outside
    [0.5, 0.1, 3, -0.2, 1.5, 1, 0, 0, 1], // zoom out: every corner case at the border
  ];
  const mats = fwd.map(inv3);
  // out→src with z < 0 right of x = 20 whose samples land inside (behind the camera: no taps), and one
  // with z = 0 on the column x = 32, where x' = 0/0 (NaN) and y' = ±∞
  mats.push([-1, 0, 0, 0, -1, 0, -0.1, 0, 2]);
  mats.push([1, 0, -32, 0, 1, 0, -1 / 32, 0, 1]);
  const fed = Float32Array.from(mats.flat());
  return { mats: mats.map((_, c) => Array.from(fed.subarray(c * 9, c * 9 + 9))), fed };
}

async function runGraph(g: Graph, feeds: Record<string, HostArray>): Promise<Record<string, HostArray>> {
  const session = await Session.create(serialize(g), { threads: 1 });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

describe('the warp taps in the graph', () => {
  for (const shared of [true, false]) {
    it(`equal the host taps, index and weight (${shared ? 'one source for all' : 'a source per cutout'})`, async () => {
      const { mats, fed } = testMatrices();
      const cutn = mats.length;
      const g = new Graph();
      const taps = warpTaps(g, g.input('warp_mats', [cutn, 9]), s, shared);
      expect(taps.offsets).toEqual([0, 1, S, S + 1]);
      g.output(taps.keys, 'keys');
      g.output(taps.weights, 'weights');
      const out = await runGraph(g, { warp_mats: fed });
      const keys = out.keys as BigInt64Array;
      const weights = out.weights as Float32Array;
      const ref = bilinearTaps(mats, s, (c) => (shared ? 0 : c));
      const N = cutn * P;
      const rows = (shared ? 1 : cutn) * S * S;
      let inside = 0;
      let onCentre = 0;
      const bad: string[] = [];
      for (let k = 0; k < 4; k++) {
        for (let t = 0; t < N; t++) {
          const i = k * N + t;
          const at = Number(keys[t]!) + taps.offsets[k]!;
          if (at < 0 || at >= rows) bad.push(`tap ${k}/${t} at ${at} outside [0, ${rows})`);
          const [ty, tx] = [Math.floor((at % (S * S)) / S) - 2, (at % S) - 2];
          if (!ref.inside[i]) {
            // a tap the host dropped lands on the zero border, whatever its weight
            if (tx >= 0 && tx < s && ty >= 0 && ty < s) bad.push(`outside tap ${k}/${t} on pixel (${tx}, ${ty})`);
            continue;
          }
          inside++;
          if (ref.w[i] === 0) onCentre++;
          if (!Object.is(weights[i], ref.w[i])) bad.push(`weight ${k}/${t}: ${weights[i]} vs ${ref.w[i]}`);
          const src = Math.floor(ref.idx[i]! / P);
          const r = ref.idx[i]! % P;
          const want = src * S * S + (Math.floor(r / s) + 2) * S + (r % s) + 2;
          if (at !== want) bad.push(`index ${k}/${t}: ${at} vs ${want}`);
        }
      }
      expect(bad.slice(0, 10)).toEqual([]);
      // the cases were exercised: taps inside and out, and inside with a zero weight (exact centres)
      expect(inside).toBeGreaterThan(N);
      expect(inside).toBeLessThan(4 * N - N / 2);
      expect(onCentre).toBeGreaterThan(P);
    });
  }

  it('warps the picture by those taps (one source, and a source per cutout)', async () => {
    const { mats, fed } = testMatrices();
    const cutn = mats.length;
    for (const sources of [1, cutn]) {
      const g = new Graph();
      g.output(warpCutouts(g.input('x', [sources, 3, s, s]), g.input('warp_mats', [cutn, 9])), 'y');
      const x = Float32Array.from({ length: sources * 3 * P }, (_, i) => Math.sin(i * 0.013) + 0.1 * Math.cos(i * 0.7));
      const y = (await runGraph(g, { x, warp_mats: fed })).y as Float32Array;
      const ref = bilinearTaps(mats, s, (c) => (sources === 1 ? 0 : c));
      const N = cutn * P;
      let worst = 0;
      for (let c = 0; c < cutn; c++) {
        for (let ch = 0; ch < 3; ch++) {
          for (let p = 0; p < P; p++) {
            let want = 0;
            for (let k = 0; k < 4; k++) {
              const i = k * N + c * P + p;
              const src = Math.floor(ref.idx[i]! / P);
              want += ref.w[i]! * x[(src * 3 + ch) * P + (ref.idx[i]! % P)]!;
            }
            worst = Math.max(worst, Math.abs(y[(c * 3 + ch) * P + p]! - want));
          }
        }
      }
      expect(worst).toBeLessThan(1e-5);
    }
  });
});
