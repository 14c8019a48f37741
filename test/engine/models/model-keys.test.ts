/** The real-size key lists the tests build random models from agree with model-spec.md appendices A and D. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturesDir } from '../../helpers/fixtures.ts';
import { clipKeys, numel, vqganKeys, type KeyShapes } from '../../helpers/model-keys.ts';

const SPEC = process.env.REVERIE_MODEL_SPEC ?? path.resolve(fixturesDir, '../../docs/model-spec.md');
const spec = fs.existsSync(SPEC) ? fs.readFileSync(SPEC, 'utf8') : null;

/** `name   [a, b]` rows of the code blocks between two headings. */
function listing(from: string, to: string): KeyShapes {
  const start = spec!.indexOf(from);
  const end = spec!.indexOf(to, start + 1);
  expect(start).toBeGreaterThan(0);
  const rows: KeyShapes = [];
  for (const line of spec!.slice(start, end).split('\n')) {
    const m = /^([\w.]+)\s+\[([\d, ]*)\]/.exec(line);
    if (m) rows.push([m[1]!, m[2]!.trim() ? m[2]!.split(',').map((d) => Number(d.trim())) : []]);
  }
  return rows;
}

describe.skipIf(!spec)('real-size key lists vs model-spec.md', () => {
  it('CLIP ViT-B/32: the 302 OpenAI keys, in state_dict order, 151,277,313 elements', () => {
    const want = listing('## Appendix A.', '## Appendix B.');
    const got = clipKeys();
    expect(want).toHaveLength(302);
    expect(got).toEqual(want);
    expect(got.reduce((a, [, s]) => a + numel(s), 0)).toBe(151_277_313);
  });

  it('VQGAN f16_16384: the 343 model keys (D.1–D.4), 76,073,859 elements', () => {
    const want = listing('### D.1', '### D.5');
    const got = vqganKeys();
    expect(want).toHaveLength(343);
    expect(new Map(got)).toEqual(new Map(want));
    // within each appendix group the order is state_dict order
    for (const prefix of ['encoder.', 'decoder.']) {
      expect(got.filter(([n]) => n.startsWith(prefix))).toEqual(want.filter(([n]) => n.startsWith(prefix)));
    }
    expect(got.reduce((a, [, s]) => a + numel(s), 0)).toBe(76_073_859);
    expect(vqganKeys(undefined, { decoder: true }).reduce((a, [, s]) => a + numel(s), 0)).toBe(4_260_096 + 42_449_795);
  });
});
