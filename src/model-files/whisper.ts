/**
 * Whisper for voice prompts, as `npm run models:pull -- --whisper [tiny|base|small]` fetches it:
 *
 *   MODELS_DIR/whisper/
 *     base.pt                 the official checkpoint; its URL carries its sha256, which is verified
 *     multilingual.tiktoken   the tokenizer's rank file (openai/whisper's assets, pinned, sha256 verified)
 *
 * WHISPER_MODEL (default whisper/base.pt) picks the checkpoint; the rank file sits beside it.
 */
import type { ModelFile, ModelSpec } from './layout.ts';

export const WHISPER_FOLDER = 'whisper';
export const DEFAULT_OPENAI_BASE = 'https://openaipublic.azureedge.net';
export const DEFAULT_GITHUB_RAW_BASE = 'https://raw.githubusercontent.com';

/** whisper/__init__.py _MODELS: the sha256 in each download URL (multilingual models). */
export const WHISPER_CHECKPOINTS = {
  tiny: { sha256: '65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9', approxBytes: 75_572_083 },
  base: { sha256: 'ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e', approxBytes: 145_262_807 },
  small: { sha256: '9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794', approxBytes: 483_617_219 },
} as const;
export type WhisperPullSize = keyof typeof WHISPER_CHECKPOINTS;
export const WHISPER_PULL_SIZES = Object.keys(WHISPER_CHECKPOINTS) as WhisperPullSize[];

/** openai/whisper v20250625's assets/multilingual.tiktoken. */
export const RANK_FILE = {
  path: '/openai/whisper/v20250625/whisper/assets/multilingual.tiktoken',
  sha256: 'b34b360dbb493e781e479794586d661700670d65564001f23024971d1f2fa126',
  approxBytes: 816_730,
};

export interface WhisperBases {
  openai: string;
  github: string;
}

export const DEFAULT_WHISPER_BASES: WhisperBases = { openai: DEFAULT_OPENAI_BASE, github: DEFAULT_GITHUB_RAW_BASE };

const trim = (b: string) => b.replace(/\/+$/, '');

export function whisperUrl(base: string, size: string, sha256: string): string {
  return `${trim(base)}/main/whisper/models/${sha256}/${size}.pt`;
}

/** The sha256 a Whisper download URL names (…/models/<sha256>/<name>.pt), if any. */
export function sha256FromUrl(url: string): string | undefined {
  return /\/([0-9a-f]{64})\/[^/]+$/i.exec(new URL(url).pathname)?.[1]?.toLowerCase();
}

export function whisperModelSpec(size: WhisperPullSize = 'base', bases: WhisperBases = DEFAULT_WHISPER_BASES, overrides: { checkpointUrl?: string } = {}): ModelSpec {
  const c = WHISPER_CHECKPOINTS[size];
  const url = overrides.checkpointUrl ?? whisperUrl(bases.openai, size, c.sha256);
  const sha = sha256FromUrl(url);
  const checkpoint: ModelFile = { name: `${size}.pt`, url, approxBytes: c.approxBytes, check: { kind: 'digest' }, ...(sha ? { sha256: sha } : {}) };
  return {
    id: `Whisper ${size} (OpenAI, for voice prompts)`,
    folder: WHISPER_FOLDER,
    variable: 'WHISPER_MODEL',
    files: [
      checkpoint,
      { name: 'multilingual.tiktoken', url: `${trim(bases.github)}${RANK_FILE.path}`, sha256: RANK_FILE.sha256, approxBytes: RANK_FILE.approxBytes, check: { kind: 'text', minBytes: 800_000 } },
    ],
  };
}
