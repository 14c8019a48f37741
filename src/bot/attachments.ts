/**
 * Image attachments for /imagine (image_prompt, init_image): checked from the attachment object first
 * (content type, size, host), then downloaded from Discord's CDN only, with the header bytes checked
 * against the PNG/JPEG/WebP/GIF signatures as soon as they arrive and the download aborted the moment
 * it passes the size limit. Nothing else is ever fetched.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export const DISCORD_CDN_HOSTS: readonly string[] = ['cdn.discordapp.com', 'media.discordapp.net'];

export interface AttachmentPolicy {
  /** Hosts ("host" or "host:port") attachments may be downloaded from. */
  allowedHosts: readonly string[];
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Largest width or height in pixels. */
  maxPixels: number;
  /** Whole download limit. */
  timeoutMs: number;
}

export const DEFAULT_ATTACHMENT_POLICY: AttachmentPolicy = {
  allowedHosts: DISCORD_CDN_HOSTS,
  maxBytes: 8 * 1024 * 1024,
  maxPixels: 4096,
  timeoutMs: 20_000,
};

export type ImageKind = 'png' | 'jpeg' | 'webp' | 'gif';
const CONTENT_TYPES: Record<string, ImageKind> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/webp': 'webp',
  'image/gif': 'gif',
};

export class AttachmentError extends Error {
  override readonly name = 'AttachmentError';
  constructor(readonly userMessage: string) {
    super(userMessage);
  }
}

export interface AttachmentInfo {
  /** the option name, for messages ("init_image") */
  label: string;
  name: string;
  url: string;
  size: number;
  contentType: string | null | undefined;
}

/** Sniffs the first bytes. Needs 12 bytes for WebP; fewer give undefined. */
export function sniffImage(head: Uint8Array): ImageKind | undefined {
  const b = head;
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 && b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 6 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38 && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61) return 'gif';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45 && b[10] === 0x42 && b[11] === 0x50) return 'webp';
  return undefined;
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 2 : 1)} MiB`;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Is this URL one we may download from? https only, except loopback hosts (tests). */
export function hostAllowed(rawUrl: string, policy: Pick<AttachmentPolicy, 'allowedHosts'>): boolean {
  let u: URL;
  try {
    u = new URL(rawUrl);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  const okHost = policy.allowedHosts.some((h) => h.toLowerCase() === u.host.toLowerCase() || h.toLowerCase() === u.hostname.toLowerCase());
  if (!okHost) return false;
  return u.protocol === 'https:' || (u.protocol === 'http:' && LOOPBACK.has(u.hostname));
}

/** Checks made before any byte is downloaded. Throws AttachmentError. */
export function checkAttachmentMeta(a: AttachmentInfo, policy: AttachmentPolicy): ImageKind {
  const type = (a.contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const kind = CONTENT_TYPES[type];
  if (!kind) {
    throw new AttachmentError(
      `The ${a.label} “${a.name}” is not a picture I can read${type ? ` (it is ${type})` : ''}. Please attach a PNG, JPEG, WebP or GIF image.`,
    );
  }
  if (a.size > policy.maxBytes) {
    throw new AttachmentError(`The ${a.label} “${a.name}” is ${mib(a.size)}; the limit is ${mib(policy.maxBytes)}. Please attach a smaller image.`);
  }
  if (!hostAllowed(a.url, policy)) {
    throw new AttachmentError(`The ${a.label} must be an image uploaded to Discord (its link does not point at Discord's CDN).`);
  }
  return kind;
}

export interface DownloadedImage {
  path: string;
  kind: ImageKind;
  bytes: number;
  width: number;
  height: number;
}

/**
 * Reads the header (size limits), then decodes every pixel (sharp with failOn 'error'): a truncated file
 * or a damaged chunk is refused here, before the job is queued, not half-way through painting.
 */
export async function decodeWhole(data: Buffer, a: Pick<AttachmentInfo, 'label' | 'name'>, policy: Pick<AttachmentPolicy, 'maxPixels'>): Promise<{ width: number; height: number }> {
  const damaged = () => new AttachmentError(`The ${a.label} “${a.name}” looks like an image but I couldn't read all of it: the file seems damaged or cut short. Please upload it again, or try another one.`);
  const opts = { limitInputPixels: policy.maxPixels * policy.maxPixels, failOn: 'error' as const };
  let width: number;
  let height: number;
  try {
    const meta = await sharp(data, opts).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch {
    throw damaged();
  }
  if (width > policy.maxPixels || height > policy.maxPixels) {
    throw new AttachmentError(`The ${a.label} “${a.name}” is ${width}×${height}; the largest I take is ${policy.maxPixels}×${policy.maxPixels}.`);
  }
  try {
    const { info } = await sharp(data, opts).raw().toBuffer({ resolveWithObject: true });
    if (!(info.width > 0 && info.height > 0)) throw damaged();
  } catch {
    throw damaged();
  }
  return { width, height };
}

/**
 * Downloads an attachment (after checkAttachmentMeta) into `dir`. Aborts as soon as the header is not an
 * image signature or the body passes maxBytes. Redirects are refused (they could lead off the CDN).
 */
export async function downloadImage(a: AttachmentInfo, policy: AttachmentPolicy, dir: string): Promise<DownloadedImage> {
  checkAttachmentMeta(a, policy);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error('timeout')), policy.timeoutMs);
  const chunks: Buffer[] = [];
  let total = 0;
  let kind: ImageKind | undefined;
  try {
    let res: Response;
    try {
      res = await fetch(a.url, { signal: controller.signal, redirect: 'error', headers: { accept: 'image/*' } });
    } catch {
      throw new AttachmentError(`I couldn't download the ${a.label} “${a.name}” from Discord. Please try again.`);
    }
    if (!res.ok || !res.body) {
      throw new AttachmentError(`I couldn't download the ${a.label} “${a.name}” (Discord answered ${res.status}). Please upload it again.`);
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > policy.maxBytes) {
      controller.abort();
      throw new AttachmentError(`The ${a.label} “${a.name}” is ${mib(declared)}; the limit is ${mib(policy.maxBytes)}. Please attach a smaller image.`);
    }
    const reader = res.body.getReader();
    try {
      for (;;) {
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch {
          throw new AttachmentError(`The download of the ${a.label} “${a.name}” broke off. Please try again.`);
        }
        if (r.done) break;
        total += r.value.length;
        if (total > policy.maxBytes) {
          throw new AttachmentError(`The ${a.label} “${a.name}” is larger than the ${mib(policy.maxBytes)} limit. Please attach a smaller image.`);
        }
        chunks.push(Buffer.from(r.value));
        if (!kind && total >= 12) {
          kind = sniffImage(Buffer.concat(chunks).subarray(0, 12));
          if (!kind) throw new AttachmentError(`The ${a.label} “${a.name}” is not a PNG, JPEG, WebP or GIF image (its contents say otherwise).`);
        }
      }
    } finally {
      if (total > policy.maxBytes || (total >= 12 && !kind)) await reader.cancel().catch(() => undefined);
      controller.abort();
    }
    const data = Buffer.concat(chunks);
    kind ??= sniffImage(data);
    if (!kind) throw new AttachmentError(`The ${a.label} “${a.name}” is not a PNG, JPEG, WebP or GIF image (its contents say otherwise).`);
    const { width, height } = await decodeWhole(data, a, policy);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}-${a.label}.${kind === 'jpeg' ? 'jpg' : kind}`);
    fs.writeFileSync(file, data);
    return { path: file, kind, bytes: data.length, width, height };
  } finally {
    clearTimeout(timer);
  }
}
