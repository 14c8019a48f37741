/**
 * What the job message says in each phase. Pure functions: Discord-shaped JSON in, text out.
 */
import type { JobRecord } from '../jobs/types.ts';
import { looksUnsafe, plainError } from '../jobs/user-errors.ts';

export const EMOJI = { reroll: '🔁', variation: '🎲', cancel: '❌', delete: '🗑️' } as const;

/** Button custom ids: `reverie:<action>:<jobId>` (≤ 100 chars). */
export type ButtonAction = 'reroll' | 'vary' | 'cancel' | 'delete';
export const buttonId = (action: ButtonAction, jobId: string): string => `reverie:${action}:${jobId}`;
export function parseButtonId(id: string): { action: ButtonAction; jobId: string } | undefined {
  const m = /^reverie:(reroll|vary|cancel|delete):([A-Za-z0-9_-]{1,64})$/.exec(id);
  return m ? { action: m[1] as ButtonAction, jobId: m[2]! } : undefined;
}

export function progressBar(fraction: number, width = 20): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/** 75 → "1 min 15 s", 3700 → "1 h 2 min", 4 → "4 s". */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

export function formatSpeed(itPerSec: number): string {
  if (!Number.isFinite(itPerSec) || itPerSec <= 0) return '…';
  return itPerSec >= 1 ? `${itPerSec.toFixed(2)} it/s` : `${(1 / itPerSec).toFixed(1)} s/it`;
}

const MD = /([\\*_~`|>#[\]()-])/g;
export function escapeMd(s: string): string {
  return s.replace(MD, '\\$1').replace(/@/g, '@\u200b');
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * At most `max` UTF-16 units of `text`, cut on a grapheme boundary (never inside a surrogate pair, an
 * emoji sequence or a letter with its accents), with `tail` added when something was cut.
 */
export function cutText(text: string, max: number, tail = '…'): string {
  if (text.length <= max) return text;
  const room = max - tail.length;
  let end = 0;
  for (const { index, segment } of graphemes.segment(text)) {
    if (index + segment.length > room) break;
    end = index + segment.length;
  }
  return text.slice(0, end) + tail;
}

export function shortPrompt(prompt: string, max = 300): string {
  const flat = prompt.replace(/\s+/g, ' ').trim();
  return cutText(flat, max);
}

export function threadName(prompt: string): string {
  const p = shortPrompt(prompt, 90);
  return cutText(`🎨 ${p}`, 100, '');
}

export interface ViewState {
  job: JobRecord;
  phase: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  position?: number;
  etaSec?: number;
  device?: string;
  paused?: boolean;
  progress?: { step: number; steps: number; itPerSec: number; etaSec: number };
  resumedFromStep?: number;
  error?: string;
  cancelledBy?: string;
  seconds?: number;
  /** the thread could not be created: say where the snapshots are not */
  noThread?: boolean;
  /** the bot is shutting down: the job continues from its checkpoint after the restart */
  restarting?: boolean;
}

function header(job: JobRecord): string {
  const kind = job.request.initZ ? `${EMOJI.variation} Variation` : job.parentId ? `${EMOJI.reroll} Re-roll` : '';
  return `**${escapeMd(shortPrompt(job.request.prompt))}** — <@${job.userId}>${kind ? ` · ${kind}` : ''}`;
}

const MODEL_LABELS = { vqgan: 'VQGAN+CLIP', biggan: 'BigGAN+CLIP', siren: 'SIREN+CLIP' } as const;

function details(job: JobRecord): string {
  const r = job.request;
  const bits = [`seed \`${r.seed}\``, `${r.width}×${r.height}`, `${r.steps} steps`];
  if (r.model && r.model !== 'vqgan') bits.unshift(MODEL_LABELS[r.model]);
  if (r.cutn) bits.push(`${r.cutn} cutouts`);
  if (r.optimiser) bits.push(r.optimiser);
  if (r.lr) bits.push(`lr ${r.lr}`);
  return bits.join(' · ');
}

export function renderContent(v: ViewState): string {
  const lines = [header(v.job)];
  switch (v.phase) {
    case 'queued': {
      const pos = v.position ?? 0;
      const where = pos <= 1 ? 'next in line' : `#${pos} in line`;
      const eta = v.etaSec !== undefined && v.etaSec > 0 ? ` · starts in ~${formatDuration(v.etaSec)}` : '';
      lines.push(`⏳ Queued: ${where}${eta}${v.paused ? ' · the painter is paused by an admin' : ''}`);
      break;
    }
    case 'running': {
      const p = v.progress;
      const step = p?.step ?? v.resumedFromStep ?? 0;
      const steps = p?.steps ?? v.job.request.steps;
      const pct = Math.floor((100 * step) / Math.max(1, steps));
      const speed = p ? ` · ${formatSpeed(p.itPerSec)}` : '';
      const eta = p && Number.isFinite(p.etaSec) ? ` · ~${formatDuration(p.etaSec)} left` : '';
      if (v.restarting) {
        lines.push(`⏸️ Paused at step ${step}/${steps}: the bot is restarting and will carry on from here.`);
        break;
      }
      lines.push(`🎨 \`${progressBar(step / Math.max(1, steps))}\` ${pct}% · step ${step}/${steps}${speed}${eta}`);
      const notes: string[] = [];
      if (v.device) notes.push(`on ${v.device}`);
      if (v.resumedFromStep) notes.push(`resumed from step ${v.resumedFromStep} after a restart`);
      if (notes.length) lines.push(`-# ${notes.join(' · ')}`);
      break;
    }
    case 'done':
      lines.push(`✅ Finished${v.seconds !== undefined ? ` in ${formatDuration(v.seconds)}` : ''} · ${details(v.job)}`);
      lines.push(`-# React with ${EMOJI.reroll} or press Re-roll for another take with a new seed.`);
      break;
    case 'failed':
      lines.push(`⚠️ This one failed: ${userError(v.error ?? v.job.error, v.job.id)}`);
      break;
    case 'cancelled':
      lines.push(`${EMOJI.cancel} Cancelled${v.cancelledBy ? ` by <@${v.cancelledBy}>` : ''}${v.job.step ? ` at step ${v.job.step}/${v.job.request.steps}` : ''}.`);
      break;
  }
  return cutText(lines.join('\n'), 2000);
}

/** A stored error as the user may read it: never a path, a stack or a library's raw text. */
function userError(e: string | undefined, jobId: string): string {
  if (!e) return 'unknown error';
  return looksUnsafe(e) ? plainError(new Error(e), jobId) : e;
}

/** Raw API action rows for the phase. */
export function renderComponents(v: ViewState): unknown[] {
  const id = v.job.id;
  const btn = (action: ButtonAction, label: string, emoji: string, style: number, disabled = false) => ({
    type: 2,
    style,
    custom_id: buttonId(action, id),
    label,
    emoji: { name: emoji },
    disabled,
  });
  switch (v.phase) {
    case 'queued':
    case 'running':
      return [{ type: 1, components: [btn('cancel', 'Cancel', EMOJI.cancel, 4)] }];
    case 'done':
      return [
        {
          type: 1,
          components: [
            btn('reroll', 'Re-roll', EMOJI.reroll, 1),
            btn('vary', 'Variation', EMOJI.variation, 2, !v.job.finalZPath && !v.job.resultPath),
            btn('delete', 'Delete', EMOJI.cancel, 4),
          ],
        },
      ];
    case 'failed':
    case 'cancelled':
      return [{ type: 1, components: [btn('reroll', 'Try again', EMOJI.reroll, 2), btn('delete', 'Delete', EMOJI.cancel, 4)] }];
  }
}
