import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clipTensors, vqganTensors } from '../../src/engine/models/expected.ts';
import { repoRoot } from '../helpers/fixtures.ts';

const specPath = path.resolve(repoRoot, '../shared/docs/model-spec.md');
const spec = fs.existsSync(specPath) ? fs.readFileSync(specPath, 'utf8') : undefined;

/** name -> "d0,d1,…" from the code blocks of one part of model-spec.md. */
function listed(from: string, to: string): Map<string, string> {
  const s = spec!.slice(spec!.indexOf(from), spec!.indexOf(to, spec!.indexOf(from) + from.length));
  const m = new Map<string, string>();
  for (const line of s.split('\n')) {
    const r = /^([a-z_][\w.]*)\s+\[([\d, ]*)\]/.exec(line);
    if (r) m.set(r[1]!, r[2]!.replace(/\s/g, ''));
  }
  return m;
}

const asMap = (ts: { name: string; shape: number[] }[]) => new Map(ts.map((t) => [t.name, t.shape.join(',')]));

describe('expected tensors', () => {
  it('has the key shapes the engine relies on', () => {
    const clip = asMap(clipTensors());
    expect(clip.size).toBe(302);
    expect(clip.get('visual.conv1.weight')).toBe('768,3,32,32');
    expect(clip.get('visual.positional_embedding')).toBe('50,768');
    expect(clip.get('token_embedding.weight')).toBe('49408,512');
    expect(clip.get('text_projection')).toBe('512,512');
    expect(clip.get('visual.proj')).toBe('768,512');
    expect([...clip.keys()].filter((k) => /^visual\.transformer\.resblocks\.\d+\.ln_1\.weight$/.test(k))).toHaveLength(12);
    const vq = asMap(vqganTensors());
    expect(vq.size).toBe(343);
    expect(vq.get('quantize.embedding.weight')).toBe('16384,256');
    expect(vq.get('decoder.conv_in.weight')).toBe('512,256,3,3');
    expect(vq.get('post_quant_conv.weight')).toBe('256,256,1,1');
    expect(vq.get('encoder.conv_out.weight')).toBe('256,512,3,3');
  });

  it.skipIf(!spec)('equals model-spec.md Appendix A (CLIP) and D.1–D.4 (VQGAN)', () => {
    expect(asMap(clipTensors())).toEqual(listed('## Appendix A.', '## Appendix B.'));
    expect(asMap(vqganTensors())).toEqual(listed('## Appendix D.', '### D.5'));
  });
});
