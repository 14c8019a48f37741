import sharp from 'sharp';

/**
 * Makes an image fit Discord's attachment limit: the PNG as it is when it fits, else a maximally
 * compressed PNG, else downscaled PNGs (never a lossy format for the result).
 */
export async function fitImage(png: Buffer, limit: number): Promise<{ data: Buffer; ext: 'png' }> {
  if (png.length <= limit) return { data: png, ext: 'png' };
  let data = await sharp(png).png({ compressionLevel: 9, effort: 10 }).toBuffer();
  const meta = await sharp(png).metadata();
  let w = meta.width ?? 1024;
  while (data.length > limit && w > 64) {
    w = Math.floor(w * 0.75);
    data = await sharp(png).resize({ width: w, kernel: 'lanczos3' }).png({ compressionLevel: 9 }).toBuffer();
  }
  return { data, ext: 'png' };
}
