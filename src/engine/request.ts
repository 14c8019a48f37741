import { parsePrompts } from './prompt-parse.ts';
import type { GenerationRequest } from './request-schema.ts';
import { readNpy } from './npy.ts';
import { DEFAULT_AUGMENTS, parseAugments } from './generate/cutouts.ts';
import { DEFAULTS, MODEL_DEFAULTS, type GenerateSettings } from './generate/settings.ts';

/** Turns a stored job request into engine settings (defaults filled in, files referenced by path). */
export function settingsFromRequest(req: GenerationRequest, opts: { timelapse?: boolean } = {}): GenerateSettings {
  const cutMethod = req.cutMethod ?? DEFAULTS.cutMethod;
  const model = req.model ?? 'vqgan';
  const own = MODEL_DEFAULTS[model];
  const noiseSeeds = req.noisePromptSeeds ?? [];
  const settings: GenerateSettings = {
    // Image and noise prompts may stand alone; the engine then checks that something pulls the picture.
    prompts: parsePrompts(req.prompt, req.imagePrompts?.length || noiseSeeds.length ? { allowEmpty: true, requirePositive: false } : {}),
    imagePrompts: (req.imagePrompts ?? []).map((source) => ({ source, weight: 1, stop: -Infinity })),
    noisePrompts: noiseSeeds.map((seed, i) => ({ seed, weight: req.noisePromptWeights?.[i] ?? 1 })),
    width: req.width,
    height: req.height,
    steps: req.steps,
    seed: req.seed,
    cutn: req.cutn ?? own.cutn,
    cutMethod,
    cutPow: req.cutPow ?? DEFAULTS.cutPow,
    augments: req.augments ? parseAugments(req.augments) : DEFAULT_AUGMENTS[cutMethod],
    lr: req.lr ?? own.lr,
    optimiser: req.optimiser ?? own.optimiser,
    initWeight: req.initWeight ?? DEFAULTS.initWeight,
    saveEvery: req.saveEvery ?? DEFAULTS.saveEvery,
    timelapse: opts.timelapse ?? true,
  };
  if (model !== 'vqgan') settings.model = model;
  if (req.maxClasses !== undefined) settings.maxClasses = req.maxClasses;
  if (req.initImage) settings.initImage = req.initImage;
  if (req.initZ) {
    const arr = readNpy(req.initZ);
    if (arr.dtype !== 'float32') throw new Error(`${req.initZ}: the starting latent must be float32, got ${arr.dtype}`);
    settings.initZ = arr.data as Float32Array;
  }
  return settings;
}
