/**
 * The BigGAN-deep models a worker paints with, loaded on first use and kept (one at a time: a 512 model
 * replaces a 256 one). The configured folder serves its own size; the other released sizes come from
 * its siblings named biggan-deep-{128,256,512}. A folder whose model is not a released size (the tiny
 * test models) serves every request.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BigganModel } from '../models/biggan.ts';

export const BIGGAN_RELEASE_SIZES = [128, 256, 512] as const;

export class BigganModels {
  private loaded: { dir: string; model: Promise<BigganModel> } | undefined;

  constructor(readonly dir: string) {}

  private load(dir: string): Promise<BigganModel> {
    if (this.loaded?.dir === dir) return this.loaded.model;
    const model = BigganModel.load(dir);
    this.loaded = { dir, model };
    model.catch(() => {
      if (this.loaded?.model === model) this.loaded = undefined;
    });
    return model;
  }

  /** The model for a picture of `size` pixels (biggan-deep-{size}). */
  async forSize(size: number): Promise<BigganModel> {
    const base = await this.load(this.dir);
    if (base.imageSize === size || !(BIGGAN_RELEASE_SIZES as readonly number[]).includes(base.imageSize)) return base;
    const sibling = path.join(path.dirname(this.dir), `biggan-deep-${size}`);
    if (!fs.existsSync(sibling)) throw new Error(`no BigGAN-deep model for ${size}×${size}: ${sibling} is missing (put config.json and pytorch_model.bin of biggan-deep-${size} there)`);
    return this.load(sibling);
  }
}
