import { describe, expect, it } from 'vitest';
import { applyStyle, formatPrompts, parsePrompt, parsePrompts, PromptParseError } from '../../src/engine/prompt-parse.ts';

const err = (s: string): string => {
  try {
    parsePrompts(s);
  } catch (e) {
    expect(e).toBeInstanceOf(PromptParseError);
    return (e as PromptParseError).userMessage;
  }
  throw new Error(`no error for ${s}`);
};

describe('prompt parser', () => {
  it('reads text[:weight[:stop]] pieces split by |, from the right', () => {
    expect(parsePrompts('a:1 | b:0.5 | c:-1')).toEqual([
      { text: 'a', weight: 1, stop: -Infinity },
      { text: 'b', weight: 0.5, stop: -Infinity },
      { text: 'c', weight: -1, stop: -Infinity },
    ]);
    expect(parsePrompts('a lighthouse')).toEqual([{ text: 'a lighthouse', weight: 1, stop: -Infinity }]);
    expect(parsePrompt('fog:0.5:0.2')).toEqual({ text: 'fog', weight: 0.5, stop: 0.2 });
    expect(parsePrompt('fog:2:-inf')).toEqual({ text: 'fog', weight: 2, stop: -Infinity });
    expect(parsePrompt('x:1e-1')).toEqual({ text: 'x', weight: 0.1, stop: -Infinity });
    expect(parsePrompt('x: .5 ')).toEqual({ text: 'x', weight: 0.5, stop: -Infinity });
    expect(parsePrompt('x:+3')).toMatchObject({ weight: 3 });
  });

  it('keeps colons that are plainly part of the text', () => {
    expect(parsePrompt('a sign saying: hello world')).toMatchObject({ text: 'a sign saying: hello world', weight: 1 });
    expect(parsePrompt('see http://example.com')).toMatchObject({ text: 'see http://example.com', weight: 1 });
    expect(parsePrompt('time: 12:30 in the afternoon')).toMatchObject({ text: 'time: 12:30 in the afternoon', weight: 1 });
    expect(parsePrompt('note: this:2')).toEqual({ text: 'note: this', weight: 2, stop: -Infinity });
    expect(parsePrompt('ends with colon:')).toMatchObject({ text: 'ends with colon:', weight: 1 });
  });

  it('explains what is wrong, politely', () => {
    expect(err('')).toMatch(/empty/);
    expect(err('  \n ')).toMatch(/empty/);
    expect(err('cat:big')).toMatch(/couldn't read the weight “big” in “cat:big”/);
    expect(err('cat:1.2.3')).toMatch(/couldn't read the weight “1\.2\.3”/);
    expect(err('cat:1.2.3:0.5')).toMatch(/couldn't read the weight “1\.2\.3”/);
    expect(err('cat:inf')).toMatch(/finite number/);
    expect(err('cat:1:inf')).toMatch(/stop value .* must be a number/);
    expect(err(':0.5')).toMatch(/weight but no text/);
    expect(err('a || b')).toMatch(/empty prompt between/);
    expect(err('a:1000')).toMatch(/out of range/);
    expect(err('a:-1 | b:0')).toMatch(/positive weight/);
    expect(err(Array.from({ length: 9 }, (_, i) => `p${i}`).join('|'))).toMatch(/at most 8/);
  });

  it('options: empty input and only negative prompts can be allowed (e.g. image-prompt-only runs)', () => {
    expect(parsePrompts('', { allowEmpty: true })).toEqual([]);
    expect(parsePrompts('blur:-1', { requirePositive: false })).toEqual([{ text: 'blur', weight: -1, stop: -Infinity }]);
  });

  it('formats back to a string that parses to the same prompts', () => {
    for (const s of ['a:1 | b:0.5 | c:-1', 'fog:0.5:0.2 | sea', 'a sign saying: hello', 'x:2:-inf', 'note: this:2', 'ends:']) {
      const p = parsePrompts(s);
      expect(parsePrompts(formatPrompts(p))).toEqual(p);
    }
    expect(formatPrompts(parsePrompts('a:1 | b:0.5'))).toBe('a | b:0.5');
  });

  it('adds a style to the first positive prompt', () => {
    expect(formatPrompts(applyStyle(parsePrompts('blur:-1 | a fox:2 | snow'), 'oil painting'))).toBe('blur:-1 | a fox, oil painting:2 | snow');
    expect(applyStyle(parsePrompts('a fox'), undefined)).toEqual(parsePrompts('a fox'));
  });
});
