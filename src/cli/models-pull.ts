/**
 * npm run models:pull [-- --check] [-- --models-dir DIR] [-- --whisper [tiny|base|small]]
 *
 * Downloads the default CLIP and VQGAN weights into MODELS_DIR (resuming partial downloads), checks
 * every file, writes MODELS_DIR/manifest.json. Exit 0 when every file is in place and checks out,
 * 1 otherwise, with one message that lists what is missing, its URL and where to put it by hand.
 */
import { ConfigError, loadConfig } from '../config.ts';
import { pullModels } from '../model-files/pull.ts';
import { WHISPER_PULL_SIZES, whisperModelSpec, type WhisperPullSize } from '../model-files/whisper.ts';

const USAGE = `Usage: npm run models:pull [-- --check] [-- --models-dir DIR] [-- --whisper [tiny|base|small]]

Downloads CLIP ViT-B/32 and VQGAN imagenet_f16_16384 (about 1.6 GB) into MODELS_DIR (default ./models),
resuming partial downloads, and checks every file's tensors. --check only checks what is there.
--whisper [SIZE] fetches Whisper instead (default base, ~145 MB) for voice prompts, with its tokenizer
rank file, into MODELS_DIR/whisper/, and verifies both by sha256 (the checkpoint's is in its URL).
Environment: MODELS_DIR, REVERIE_HF_BASE, REVERIE_HEIBOX_BASE (see .env.example).`;

async function main(argv: string[]): Promise<number> {
  let checkOnly = false;
  let modelsDir: string | undefined;
  let whisper: WhisperPullSize | undefined;
  const isSize = (v: string | undefined): v is WhisperPullSize => WHISPER_PULL_SIZES.includes(v as WhisperPullSize);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check') checkOnly = true;
    else if (a === '--whisper') whisper = isSize(argv[i + 1]) ? (argv[++i] as WhisperPullSize) : 'base';
    else if (a.startsWith('--whisper=')) {
      const v = a.slice('--whisper='.length);
      if (!isSize(v)) {
        process.stderr.write(`models:pull: --whisper expects one of ${WHISPER_PULL_SIZES.join(', ')}, got "${v}"\n`);
        return 2;
      }
      whisper = v;
    }
    else if (a === '--models-dir') modelsDir = argv[++i];
    else if (a.startsWith('--models-dir=')) modelsDir = a.slice('--models-dir='.length);
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      process.stderr.write(`models:pull: unknown argument "${a}"\n${USAGE}\n`);
      return 2;
    }
  }
  if (modelsDir === '') modelsDir = undefined;

  let config;
  try {
    config = loadConfig(process.env, { requireToken: false });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  const dir = modelsDir ?? config.modelsDir;
  process.stderr.write(`${checkOnly ? 'Checking' : 'Pulling'} model weights in ${dir}\n`);
  const result = await pullModels({
    modelsDir: dir,
    bases: { hf: config.hfBase, heibox: config.heiboxBase },
    checkOnly,
    ...(whisper ? { specs: [whisperModelSpec(whisper)] } : {}),
  });
  if (result.ok) {
    process.stdout.write(`${result.report}\n`);
    return 0;
  }
  process.stderr.write(`${result.report}\n`);
  return 1;
}

process.on('SIGINT', () => {
  process.stderr.write('\nInterrupted. Partial downloads are kept: run `npm run models:pull` again to resume.\n');
  process.exit(130);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`models:pull: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
