import zlib from 'node:zlib';
import sharp from 'sharp';

/** Loads an image file as float32 CHW in [0,1], resized to width×height (lanczos, cover), RGB. */
export async function loadImageCHW(path: string | Buffer, width: number, height: number): Promise<Float32Array> {
  let data: Buffer;
  try {
    data = await sharp(path).removeAlpha().resize(width, height, { fit: 'cover', kernel: 'lanczos3' }).toColourspace('srgb').raw().toBuffer();
  } catch (err) {
    throw new Error(`could not read image ${typeof path === 'string' ? path : '(buffer)'}: ${(err as Error).message}`);
  }
  return hwcToChw(data, width, height);
}

export function hwcToChw(data: Uint8Array, width: number, height: number): Float32Array {
  const P = width * height;
  const out = new Float32Array(3 * P);
  for (let p = 0; p < P; p++) for (let c = 0; c < 3; c++) out[c * P + p] = data[p * 3 + c]! / 255;
  return out;
}

/** float CHW [0,1] → uint8 HWC RGB (rounded, clamped). */
export function chwToRgb(chw: Float32Array, width: number, height: number): Buffer {
  const P = width * height;
  const out = Buffer.alloc(3 * P);
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.min(255, Math.max(0, Math.round(chw[c * P + p]! * 255)));
  }
  return out;
}

export async function encodePng(rgb: Buffer, width: number, height: number, text: Record<string, string> = {}): Promise<Buffer> {
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  return Object.keys(text).length ? addPngText(png, text) : png;
}

/** Inserts tEXt chunks (Latin-1 keyword, UTF-8 values go in iTXt) right after IHDR. */
export function addPngText(png: Buffer, entries: Record<string, string>): Buffer {
  const ihdrEnd = 8 + 4 + 4 + 13 + 4;
  const chunks: Buffer[] = [];
  for (const [key, value] of Object.entries(entries)) {
    const ascii = /^[\x20-\x7e\n]*$/.test(value);
    const body = ascii
      ? Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')])
      : Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]);
    chunks.push(pngChunk(ascii ? 'tEXt' : 'iTXt', body));
  }
  return Buffer.concat([png.subarray(0, ihdrEnd), ...chunks, png.subarray(ihdrEnd)]);
}

function pngChunk(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

/** Reads tEXt and iTXt chunks back (for tests and for users inspecting a result). */
export function readPngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos + 8 <= png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const body = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'tEXt' || type === 'iTXt') {
      const z = body.indexOf(0);
      const key = body.toString('latin1', 0, z);
      out[key] = type === 'tEXt' ? body.toString('latin1', z + 1) : body.subarray(z + 5).toString('utf8');
    }
    pos += 12 + len;
  }
  return out;
}

/** Animated WebP and GIF of RGB frames (all width×height), scaled to at most maxSide. */
export async function timelapse(frames: readonly Buffer[], width: number, height: number, delayMs = 150): Promise<{ webp: Buffer; gif: Buffer }> {
  if (!frames.length) throw new Error('timelapse needs at least one frame');
  const stacked = Buffer.concat(frames);
  const raw = { width, height: height * frames.length, channels: 3 as const, pageHeight: height };
  const delay = frames.map((_, i) => (i === frames.length - 1 ? delayMs * 8 : delayMs));
  const [webp, gif] = await Promise.all([
    sharp(stacked, { raw }).webp({ loop: 0, delay, quality: 85 }).toBuffer(),
    sharp(stacked, { raw }).gif({ loop: 0, delay }).toBuffer(),
  ]);
  return { webp, gif };
}

/** A smaller RGB frame for the timelapse (keeps memory bounded for long runs). */
export async function shrinkFrame(rgb: Buffer, width: number, height: number, maxSide: number): Promise<{ data: Buffer; width: number; height: number }> {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  if (scale === 1) return { data: rgb, width, height };
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const data = await sharp(rgb, { raw: { width, height, channels: 3 } }).resize(w, h, { kernel: 'lanczos3' }).raw().toBuffer();
  return { data, width: w, height: h };
}

/** Lanczos upscale of a PNG for display. */
export async function upscalePng(png: Buffer, factor: number): Promise<Buffer> {
  const meta = await sharp(png).metadata();
  return sharp(png)
    .resize(Math.round(meta.width! * factor), Math.round(meta.height! * factor), { kernel: 'lanczos3' })
    .png()
    .toBuffer();
}
