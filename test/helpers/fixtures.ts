import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared parity fixtures sit beside the clone (../shared); REVERIE_FIXTURES overrides. */
export const fixturesDir = process.env.REVERIE_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures/parity-tiny');
export const fixture = (...parts: string[]): string => path.join(fixturesDir, ...parts);
/** The BigGAN-deep fixture beside parity-tiny; REVERIE_BIGGAN_FIXTURES overrides. */
export const bigganFixturesDir = process.env.REVERIE_BIGGAN_FIXTURES ?? path.resolve(fixturesDir, '../biggan-tiny');
export const bigganFixture = (...parts: string[]): string => path.join(bigganFixturesDir, ...parts);
