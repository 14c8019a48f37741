/** The ONNX Runtime session options built for each device (no GPU needed: the options are pure data). */
import { describe, expect, it } from 'vitest';
import { memoryOptions, sessionOptions } from '../../../src/engine/graph/index.ts';

const model = { externalData: [{ path: 'w.bin', data: new Uint8Array(4) }] };

describe('sessionOptions', () => {
  it('cpu: the CPU provider only, no fallback setting, ORT picks the threads', () => {
    const o = sessionOptions(model, { device: 'cpu' });
    expect(o.executionProviders).toEqual(['cpu']);
    expect(o.extra).toBeUndefined();
    expect(o.intraOpNumThreads).toBeUndefined();
    expect(o.externalData).toBe(model.externalData);
    expect(o.graphOptimizationLevel).toBe('all');
    expect(o.enableProfiling).toBe(false);
    expect(o.enableCpuMemArena).toBe(false);
    expect(o.enableMemPattern).toBeUndefined();
    expect(sessionOptions(model, { memArena: true })).toMatchObject({ enableCpuMemArena: true, enableMemPattern: false });
    // the memory pattern also plans GPU memory: a CUDA session keeps it
    expect(sessionOptions(model, { device: 'cuda:0', memArena: true }).enableMemPattern).toBeUndefined();
    expect(sessionOptions(model)).toEqual(o);
  });

  it('ENGINE_MEMORY: fast is the arena and pre-packed weights, lean neither', () => {
    expect(sessionOptions(model, memoryOptions('fast'))).toMatchObject({ enableCpuMemArena: true, enableMemPattern: false });
    expect(sessionOptions(model, memoryOptions('fast')).extra).toBeUndefined();
    expect(sessionOptions(model, memoryOptions('lean')).enableCpuMemArena).toBe(false);
    expect(sessionOptions(model, memoryOptions('lean')).extra).toEqual({ session: { disable_prepacking: '1' } });
  });

  it('cuda:N: the CUDA provider on device N only, with CPU fallback disabled', () => {
    for (const n of [0, 3]) {
      const o = sessionOptions(model, { device: `cuda:${n}` });
      expect(o.executionProviders).toEqual([{ name: 'cuda', deviceId: n }]);
      expect(o.extra).toEqual({ session: { disable_cpu_ep_fallback: '1' } });
    }
  });

  it('prepack: false disables ORT pre-packing (on either device), keeping the CUDA fallback setting', () => {
    expect(sessionOptions(model, { prepack: false }).extra).toEqual({ session: { disable_prepacking: '1' } });
    expect(sessionOptions(model, { prepack: true }).extra).toBeUndefined();
    expect(sessionOptions(model, { device: 'cuda:0', prepack: false }).extra).toEqual({
      session: { disable_prepacking: '1', disable_cpu_ep_fallback: '1' },
    });
  });

  it('threads, optimisation level and profiling pass through on either device', () => {
    for (const device of ['cpu', 'cuda:1'] as const) {
      const o = sessionOptions(model, { device, threads: 2, optimization: 'basic', profilePrefix: '/tmp/p' });
      expect(o).toMatchObject({ intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'basic', enableProfiling: true, profileFilePrefix: '/tmp/p' });
    }
  });
});
