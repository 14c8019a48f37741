import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNpy, readNpy, writeNpy, type NpyDType } from '../../src/engine/npy.ts';
import { fixture } from '../helpers/fixtures.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

// Written by numpy 2.4 np.save (see the test names for the arrays).
const NP = {
  f4_2x3: '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000803e0000003f0000403f0000803f0000a03f',
  f4_0d: '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f',
  i8_3: '934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100000000000000feffffffffffffff0000000000010000',
  be_f4: '934e554d5059010076007b276465736372273a20273e6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a3fc00000c0000000',
  fortran: '934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2032292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000803f0000803f0000803f0000803f',
  f2_5: '934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028352c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003cff7b01000080007c',
  v2_i4: '934e554d50590200740000007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100000002000000',
  v3_i4: '934e554d50590300740000007b276465736372273a20273c6934272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100000002000000',
};

describe('readNpy', () => {
  it('reads numpy-written arrays', () => {
    const a = readNpy(hex(NP.f4_2x3));
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([2, 3]);
    expect([...a.data]).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
    const s = readNpy(hex(NP.f4_0d));
    expect(s.shape).toEqual([]);
    expect([...s.data]).toEqual([1.5]);
    const i = readNpy(hex(NP.i8_3));
    expect(i.dtype).toBe('int64');
    expect([...(i.data as BigInt64Array)]).toEqual([1n, -2n, 2n ** 40n]);
  });

  it('decodes float16 to float32 exactly', () => {
    const h = readNpy(hex(NP.f2_5));
    expect(h.dtype).toBe('float16');
    expect(h.data).toBeInstanceOf(Float32Array);
    expect([...h.data]).toEqual([1, 65504, 2 ** -24, -0, Infinity]);
    expect(Object.is(h.data[3], -0)).toBe(true);
  });

  it('reads format versions 2.0 and 3.0', () => {
    for (const v of [NP.v2_i4, NP.v3_i4]) {
      const a = readNpy(hex(v));
      expect(a.dtype).toBe('int32');
      expect([...a.data]).toEqual([1, 2]);
    }
  });

  it('byte-swaps big-endian data', () => {
    expect([...readNpy(hex(NP.be_f4)).data]).toEqual([1.5, -2]);
  });

  it('refuses fortran order, bad magic, truncated data and unknown dtypes with clear errors', () => {
    expect(() => readNpy(hex(NP.fortran), 'f.npy')).toThrow(/^f\.npy: fortran_order=True arrays are not supported/);
    expect(() => readNpy(new Uint8Array(20), 'x.npy')).toThrow(/^x\.npy: not a \.npy file \(bad magic/);
    const t = hex(NP.f4_2x3);
    expect(() => readNpy(t.subarray(0, t.length - 3), 'cut.npy')).toThrow('cut.npy: truncated data: expected 24 bytes, got 21');
    const obj = hex(NP.f4_2x3);
    obj.set(new TextEncoder().encode("|O' "), 0x15); // "'<f4'" → "'|O' "
    expect(() => readNpy(obj, 'o.npy')).toThrow(/o\.npy: unsupported dtype '\|O'/);
    const p = path.join(tmp, 'short.npy');
    fs.writeFileSync(p, t.subarray(0, 70));
    expect(() => readNpy(p)).toThrow(`${p}: truncated header`);
  });

  it('reads the fixture cases with the right shapes', () => {
    const tokens = readNpy(fixture('cases', 'tokens.npy'));
    expect(tokens.dtype).toBe('int64');
    expect(tokens.shape).toEqual([6, 77]);
    const tk = tokens.data as BigInt64Array;
    expect(tk[0]).toBe(49406n); // <start_of_text>
    const z = readNpy(fixture('cases', 'z.npy'));
    expect(z.dtype).toBe('float32');
    expect(z.shape).toEqual([1, 16, 16, 16]);
    expect(z.data).toBeInstanceOf(Float32Array);
    expect(readNpy(fixture('cases', 'image.npy')).shape).toEqual([2, 3, 64, 64]);
    expect(readNpy(fixture('cases', 'text_embed.npy')).shape).toEqual([6, 32]);
  });
});

describe('encodeNpy / writeNpy', () => {
  it('is byte-identical to np.save', () => {
    expect(Buffer.from(encodeNpy({ dtype: 'float32', shape: [2, 3], data: new Float32Array([0, 0.25, 0.5, 0.75, 1, 1.25]) })).toString('hex')).toBe(NP.f4_2x3);
    expect(Buffer.from(encodeNpy({ dtype: 'float32', shape: [], data: [1.5] })).toString('hex')).toBe(NP.f4_0d);
    expect(Buffer.from(encodeNpy({ dtype: 'int64', shape: [3], data: [1n, -2n, 2n ** 40n] })).toString('hex')).toBe(NP.i8_3);
    expect(Buffer.from(encodeNpy({ dtype: 'float16', shape: [5], data: [1, 65504, 2 ** -24, -0, Infinity] })).toString('hex')).toBe(NP.f2_5);
  });

  const cases: { dtype: NpyDType; data: ArrayLike<number> | ArrayLike<bigint> }[] = [
    { dtype: 'float32', data: new Float32Array([1.5, -0, NaN, Infinity, 3.4e38, 1e-45]) },
    { dtype: 'float64', data: new Float64Array([Math.PI, -1e300, 5e-324, NaN, 0, 1]) },
    { dtype: 'int64', data: new BigInt64Array([0n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 49407n, 7n]) },
    { dtype: 'int32', data: new Int32Array([0, -1, 2 ** 31 - 1, -(2 ** 31), 5, 6]) },
    { dtype: 'int8', data: new Int8Array([0, -1, 127, -128, 5, 6]) },
    { dtype: 'uint8', data: new Uint8Array([0, 1, 255, 128, 5, 6]) },
    { dtype: 'bool', data: new Uint8Array([0, 1, 1, 0, 0, 1]) },
    { dtype: 'float16', data: new Float32Array([0.5, -2, 65504, 2 ** -24, -0, 1 / 3]) },
  ];
  for (const c of cases) {
    it(`round-trips ${c.dtype} exactly`, () => {
      const p = path.join(tmp, `${c.dtype}.npy`);
      writeNpy(p, { dtype: c.dtype, shape: [2, 3], data: c.data });
      const back = readNpy(p);
      expect(back.dtype).toBe(c.dtype);
      expect(back.shape).toEqual([2, 3]);
      if (c.dtype === 'float16') {
        // 1/3 is not representable: it rounds to the nearest half, 0x3555
        expect([...back.data]).toEqual([0.5, -2, 65504, 2 ** -24, -0, 0.25 * (1 + 0x155 / 1024)]);
      } else {
        expect(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength))
          .toEqual(Buffer.from(new Uint8Array((c.data as Uint8Array).buffer)));
      }
      expect(back.data.byteOffset % 8).toBe(0);
    });
  }

  it('switches to format 2.0 for huge headers and validates input', () => {
    const shape = [1, ...new Array<number>(30000).fill(1)];
    const bytes = encodeNpy({ dtype: 'uint8', shape, data: [7] });
    expect(bytes[6]).toBe(2);
    const back = readNpy(bytes);
    expect(back.shape.length).toBe(30001);
    expect([...back.data]).toEqual([7]);
    expect(() => encodeNpy({ dtype: 'float32', shape: [2, 2], data: [1, 2, 3] })).toThrow(/3 elements, shape \[2,2\] needs 4/);
  });
});
