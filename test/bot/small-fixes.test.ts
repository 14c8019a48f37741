/**
 * The small ones of issue 15: invisible-only prompts are empty, `:::` is refused as unreadable weights
 * (a deliberate choice, documented in prompt-parse.ts and the README), display text is cut on grapheme
 * boundaries, stored errors never reach users raw, and /healthz reports the disk guard.
 */
import { describe, expect, it } from 'vitest';
import { cutText, renderContent, shortPrompt, threadName } from '../../src/bot/format.ts';
import { isBlank, parsePrompts, PromptParseError } from '../../src/engine/prompt-parse.ts';
import { looksUnsafe, plainError } from '../../src/jobs/user-errors.ts';
import { checkHealth } from '../../src/observability/health.ts';
import type { JobRecord } from '../../src/jobs/types.ts';

const msg = (s: string): string => {
  try {
    parsePrompts(s);
  } catch (e) {
    expect(e).toBeInstanceOf(PromptParseError);
    return (e as PromptParseError).userMessage;
  }
  throw new Error(`no error for ${JSON.stringify(s)}`);
};

describe('prompts', () => {
  it('zero-width and other invisible-only prompts count as empty', () => {
    for (const s of ['\u200b', '\u200b\u200c\u200d', '\ufeff \u2060', '\u00ad\u180e', '\u3164', '\u2800\u200b', ' \t\u200b\n']) {
      expect(isBlank(s)).toBe(true);
      expect(msg(s)).toMatch(/prompt is empty/);
    }
    expect(msg('a fox | \u200b')).toMatch(/empty prompt between/);
    expect(msg('\u200b:1')).toMatch(/weight but no text/);
    expect(parsePrompts('👨‍👩‍👧 family')[0]!.text).toBe('👨‍👩‍👧 family');
  });

  it('`:::` and other empty fields between colons are refused as unreadable weights, not painted', () => {
    for (const s of [':::', '::', 'a fox::1', 'a fox:1::', 'sky | :::']) expect(msg(s)).toMatch(/couldn't read the weights in .*nothing between two colons/);
    expect(parsePrompts('a sign saying: hello')[0]).toMatchObject({ text: 'a sign saying: hello', weight: 1 });
    expect(parsePrompts('http://example.com/x')[0]!.text).toBe('http://example.com/x');
  });
});

describe('display text', () => {
  it('cuts on grapheme boundaries: never half a surrogate pair or an emoji sequence', () => {
    const s = 'a'.repeat(298) + '🥰🥰🥰';
    const cut = shortPrompt(s, 300);
    expect(cut).toBe('a'.repeat(298) + '…');
    expect(cut).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    const family = '👨‍👩‍👧';
    expect(cutText('xy' + family + 'z', 6)).toBe('xy…');
    expect(cutText('e\u0301e\u0301e\u0301', 4)).toBe('e\u0301…');
    expect(threadName('🥰'.repeat(80)).length).toBeLessThanOrEqual(100);
    expect(threadName('🥰'.repeat(80))).not.toMatch(/[\ud800-\udbff]$/);
    expect(cutText('short', 300)).toBe('short');
  });

  it('a stored raw error with a path is shown as plain words with the job id', () => {
    const job = { id: 'abc123', userId: '1', request: { prompt: 'p', steps: 5, width: 64, height: 64, seed: 1 } } as unknown as JobRecord;
    const text = renderContent({ job, phase: 'failed', error: 'could not read image /srv/data/uploads/x.png: vipspng: libpng read error' });
    expect(text).toMatch(/images this job starts from could not be read \(the details are in the bot's log under job abc123\)/);
    expect(looksUnsafe(text)).toBe(false);
    expect(plainError(Object.assign(new Error('write failed'), { code: 'ENOSPC' }), 'j1')).toMatch(/ran out of disk space/);
    expect(plainError({ userMessage: 'The prompt is empty.' })).toBe('The prompt is empty.');
    expect(plainError({ userMessage: 'failed at /home/me/x.onnx' }, 'j2')).toMatch(/internal error .*job j2/);
  });
});

describe('/healthz and the disk guard', () => {
  it('says so when the data folder is under MIN_FREE_MB', () => {
    const src = {
      client: { isReady: () => true, ws: { status: 0, ping: 5, shards: { size: 1, every: () => true } } },
      store: { isOpen: true, checkWritable: () => undefined } as never,
      scheduler: { isShuttingDown: false, devicesStatus: () => [] },
      runners: [],
    };
    expect(checkHealth(src).ok).toBe(true);
    const low = checkHealth({ ...src, disk: () => ({ ok: false, freeMb: 120, minFreeMb: 500 }) });
    expect(low.ok).toBe(false);
    expect(low.reasons).toEqual(['the data folder has 120 MB free, under MIN_FREE_MB=500: new jobs are refused']);
    expect(low.disk).toEqual({ ok: false, freeMb: 120, minFreeMb: 500 });
    expect(checkHealth({ ...src, disk: () => ({ ok: true, freeMb: 9000, minFreeMb: 500 }) }).ok).toBe(true);
  });
});
