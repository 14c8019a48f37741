/**
 * xoshiro128** seeded through splitmix32: fast, small, and its whole state is four uint32 words, so a
 * checkpoint can store it and a resumed job draws exactly the numbers it would have drawn.
 */
export class Prng {
  private s: Uint32Array;

  constructor(seed: number | readonly number[]) {
    if (typeof seed !== 'number') {
      if (seed.length !== 4) throw new Error('PRNG state must be 4 uint32 words');
      this.s = Uint32Array.from(seed);
      return;
    }
    let x = seed >>> 0;
    const hi = Math.floor(seed / 2 ** 32) >>> 0;
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9 + (i === 1 ? hi : 0)) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  state(): number[] {
    return [...this.s];
  }

  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** uniform in [0, 1) with 32 random bits */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }

  /** standard normal (Box–Muller, one value per call so the stream position is simple) */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  fillNormal(out: Float32Array, scale = 1): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const u = 1 - this.uniform();
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u)) * scale;
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
