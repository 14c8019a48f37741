/** ParamStore.release() must really let the weights go: the engine relies on it to halve a session's peak. */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { randomClipParams, randomVqganParams } from '../../../src/engine/models/random-weights.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5 && ref.deref(); i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc();
  }
  return ref.deref() === undefined;
}

const small = { embedDim: 16, imageSize: 32, patch: 16, visionWidth: 32, visionLayers: 2, contextLength: 8, vocabSize: 64, textWidth: 32, textLayers: 1 };

describe('ParamStore.release', () => {
  it('CLIP (q/k/v split from in_proj): the arrays are collected after release and read again on load', async () => {
    const store = randomClipParams(small, 3);
    const name = 'visual.transformer.resblocks.0.attn.q.weight';
    const first = Array.from(store.array(name).data);
    let ref: WeakRef<object> | undefined = new WeakRef(store.array(name).data.buffer);
    expect(store.release()).toBe(true);
    expect(await collected(ref)).toBe(true);
    ref = undefined;
    await store.load();
    expect(Array.from(store.array(name).data)).toEqual(first);
  });

  it('VQGAN: the same', async () => {
    const store = randomVqganParams({ hyper: { ch: 8, chMult: [1, 2], numResBlocks: 1, attnResolutions: [], zChannels: 4, embedDim: 4, nEmbed: 16, resolution: 16, outCh: 3, inChannels: 3 }, encoder: false });
    const name = store.names()[0]!;
    const ref = new WeakRef(store.array(name).data.buffer);
    expect(store.release()).toBe(true);
    expect(await collected(ref)).toBe(true);
  });
});
