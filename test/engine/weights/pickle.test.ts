import { describe, expect, it } from 'vitest';
import { PickleGlobal, PickleObject, unpickle } from '../../../src/engine/weights/pickle.ts';
import { PickleWriter, PyFloat, PyGlobal, PyObject, PyTuple } from './helpers.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

// Written by CPython 3 pickle.dumps (the protocol named in each test).
// {'a': [1, 2.5, None, True, False, 'é'], 'b': (1, 2, 3, 4), 'c': {7}, 'd': frozenset({3}), 'e': b'xy',
//  'big': 2**70, 'neg': -5, 'n300': -300, 'n70k': 70000, 'o': OrderedDict(k=1), 'k': mymod.K(1, x=2) with y=3}
const P4 = '800495d4000000000000007d94288c0161945d94284b014740040000000000004e88898c02c3a994658c016294284b014b024b034b0474948c0163948f94284b07908c016494284b0391948c01659443027879948c03626967948a090000000000000000408c036e6567944afbffffff8c046e333030944ad4feffff8c046e37306b944a701101008c016f948c0b636f6c6c656374696f6e73948c0b4f726465726564446963749493942952948c016b944b017368158c056d796d6f64948c014b9493944b0185947d948c0178944b027392947d948c0179944b037362752e';
// {'a': [1, 2.5, None, True, False, 'é'], 'b': (1, 2, 3, 4), 'big': 2**70, 'neg': -5, 's': 'x\ny'}
const P0 = '286470300a56610a70310a286c70320a49310a6146322e350a614e614930310a614930300a6156e90a70330a617356620a70340a2849310a49320a49330a49340a7470350a73566269670a70360a4c313138303539313632303731373431313330333432344c0a73566e65670a70370a492d350a7356730a70380a56785c7530303061790a70390a732e';
// l2 = ['shared']; l = []; l.append(l); [l2, l2] ... protocol 2 (memo sharing)
const SH = '80025d7100285d710158060000007368617265647102616801652e';

describe('unpickle', () => {
  it('handles the protocol-4 opcodes (FRAME, MEMOIZE, STACK_GLOBAL, sets, NEWOBJ_EX, LONG1, bytes)', () => {
    const v = unpickle(hex(P4), { reducers: { 'collections.OrderedDict': () => new Map() } }) as Map<string, unknown>;
    expect(v.get('a')).toEqual([1, 2.5, null, true, false, 'é']);
    expect(v.get('b')).toEqual([1, 2, 3, 4]);
    expect(v.get('c')).toEqual(new Set([7]));
    expect(v.get('d')).toEqual(new Set([3]));
    expect(v.get('e')).toEqual(new Uint8Array([0x78, 0x79]));
    expect(v.get('big')).toBe(2n ** 70n);
    expect(v.get('neg')).toBe(-5);
    expect(v.get('n300')).toBe(-300);
    expect(v.get('n70k')).toBe(70000);
    expect(v.get('o')).toEqual(new Map([['k', 1]]));
    const k = v.get('k') as PickleObject;
    expect(k).toBeInstanceOf(PickleObject);
    expect(k.__class__).toBe('mymod.K');
    expect(k.args).toEqual([1]);
    expect(k.kwargs).toEqual(new Map([['x', 2]]));
    expect(k.state).toEqual(new Map([['y', 3]]));
  });

  it('handles protocol-0 text opcodes', () => {
    const v = unpickle(hex(P0)) as Map<string, unknown>;
    expect(v.get('a')).toEqual([1, 2.5, null, true, false, 'é']);
    expect(v.get('b')).toEqual([1, 2, 3, 4]);
    expect(v.get('big')).toBe(2n ** 70n);
    expect(v.get('neg')).toBe(-5);
    expect(v.get('s')).toBe('x\ny');
  });

  it('shares memoised objects', () => {
    const v = unpickle(hex(SH)) as unknown[];
    expect(v[0]).toBe(v[1]);
  });

  it('keeps unknown classes as opaque objects, class keys as "module.Name" strings, and never runs code', () => {
    const cls = new PyGlobal('pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint');
    const bytes = PickleWriter.dumps(new Map<any, any>([
      [cls, new Map([['best_model_score', new PyFloat(0.25)]])],
      ['obj', new PyObject(cls, [], new Map([['monitor', 'val/rec_loss']]))],
      ['fn', new PyGlobal('os', 'system')],
      ['neg', new PyTuple([-1, -(2 ** 40), 2 ** 31, 2 ** 31 - 1, -(2 ** 31)])],
    ]));
    const v = unpickle(bytes) as Map<string, unknown>;
    expect([...v.keys()]).toEqual(['pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint', 'obj', 'fn', 'neg']);
    expect((v.get('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint') as Map<string, unknown>).get('best_model_score')).toBe(0.25);
    const obj = v.get('obj') as PickleObject;
    expect(obj.__class__).toBe('pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint');
    expect(obj.state).toEqual(new Map([['monitor', 'val/rec_loss']]));
    expect(v.get('fn')).toBeInstanceOf(PickleGlobal);
    expect(v.get('neg')).toEqual([-1, -(2 ** 40), 2 ** 31, 2 ** 31 - 1, -(2 ** 31)]);
  });

  it('reports truncated or malformed pickles clearly', () => {
    const b = hex(P4);
    expect(() => unpickle(b.subarray(0, 60), { label: 'x.pkl' })).toThrow(/^x\.pkl: pickle data truncated|^x\.pkl: pickle ended without STOP/);
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0xff]), { label: 'y.pkl' })).toThrow('y.pkl: unknown pickle opcode (opcode 0xff at byte 2)');
  });
});
