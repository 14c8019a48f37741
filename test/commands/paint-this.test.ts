import { describe, expect, it } from 'vitest';
import { promptFromMessage } from '../../src/commands/paint-this.ts';

describe('promptFromMessage', () => {
  it('drops mentions, emoji and links, and takes the text literally', () => {
    expect(promptFromMessage('look <@123456789012345678>: a castle | at night <:pog:1234567890> https://x.y/z')).toBe('look, a castle, at night');
    expect(promptFromMessage('   ')).toBe('');
  });
});
