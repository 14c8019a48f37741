import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared parity fixtures sit beside the clone (../shared); REVERIE_FIXTURES overrides. */
export const fixturesDir = process.env.REVERIE_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures/parity-tiny');
export const fixture = (...parts: string[]): string => path.join(fixturesDir, ...parts);

/** The whisper-micro fixture sits beside parity-tiny; REVERIE_WHISPER_FIXTURES overrides. */
export const whisperFixturesDir = process.env.REVERIE_WHISPER_FIXTURES ?? path.resolve(fixturesDir, '../whisper-micro');
export const whisperFixture = (...parts: string[]): string => path.join(whisperFixturesDir, ...parts);

/**
 * openai/whisper's multilingual.tiktoken, which the fixture does not ship: REVERIE_WHISPER_VOCAB, else
 * beside the fixture's checkpoint, else the copy in test/assets/whisper/, else models/whisper/.
 */
export function whisperRankFile(): string | undefined {
  const candidates = [process.env.REVERIE_WHISPER_VOCAB, whisperFixture('whisper', 'multilingual.tiktoken'), path.join(repoRoot, 'test/assets/whisper/multilingual.tiktoken'), path.join(repoRoot, 'models/whisper/multilingual.tiktoken')];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}
/** The BigGAN-deep fixture beside parity-tiny; REVERIE_BIGGAN_FIXTURES overrides. */
export const bigganFixturesDir = process.env.REVERIE_BIGGAN_FIXTURES ?? path.resolve(fixturesDir, '../biggan-tiny');
export const bigganFixture = (...parts: string[]): string => path.join(bigganFixturesDir, ...parts);
