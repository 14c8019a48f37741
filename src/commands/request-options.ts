/**
 * The request schema (src/engine/request-schema.ts) as /imagine options: every field the schema offers
 * to the slash command becomes an option, bounded by the schema's range narrowed by this bot's caps.
 */
import type { ChatInputCommandInteraction, SlashCommandIntegerOption, SlashCommandNumberOption, SlashCommandOptionsOnlyBuilder } from 'discord.js';
import { camelCase, REQUEST_FIELDS, snakeCase, type RequestField, type RequestFields, type SlashExposure } from '../engine/request-schema.ts';
import type { BotLimits } from '../bot/context.ts';

/** A server cap on top of the schema's range; `note` says why in the message. */
export interface BotCap {
  min?: number;
  max?: number;
  note?: string;
  /** the bot fills the field itself when the user leaves it out (from the config) */
  ownDefault?: boolean;
  message?(lo: number, hi: number): string;
}

export const MAX_SEED = 4294967295;

/** Narrower than the engine allows: one busy server shares its devices between all its users. */
export function botCaps(limits: Pick<BotLimits, 'maxSteps'>): Readonly<Record<string, BotCap>> {
  return {
    steps: { max: limits.maxSteps, note: "this server's limit" },
    seed: { max: MAX_SEED, message: (lo, hi) => `The seed must be a whole number from ${lo} to ${hi}.` },
    cutn: { max: 128, ownDefault: true },
    // SIREN's default (deep-daze) is 1e-5: the floor leaves room under it
    lr: { min: 0.000001, max: 1 },
  };
}

/** At registration the run-time limits are unknown (admins change them): only the fixed caps apply. */
export const REGISTRATION_CAPS = botCaps({ maxSteps: Infinity });

export interface SlashField {
  key: string;
  def: RequestField;
  name: string;
  /** the key of buildRequest's input: the option name in camelCase */
  inputKey: string;
  advanced: boolean;
}

export function slashFields(fields: RequestFields = REQUEST_FIELDS): SlashField[] {
  return Object.entries(fields)
    .filter((e): e is [string, RequestField & { slash?: SlashExposure }] => e[1].slash !== false)
    .map(([key, def]) => {
      const name = def.slash?.name ?? snakeCase(key);
      return { key, def, name, inputKey: camelCase(name), advanced: def.slash?.advanced ?? false };
    });
}

/** The bounds a value must meet: the schema's, narrowed by the cap. */
export function bounds(def: RequestField, cap: BotCap | undefined): { min?: number; above?: number; max?: number } {
  const min = cap?.min !== undefined ? Math.max(cap.min, def.min ?? -Infinity) : def.min;
  const max = Math.min(cap?.max ?? Infinity, def.max ?? Infinity);
  return {
    ...(min !== undefined ? { min } : {}),
    ...(def.above !== undefined && !(min !== undefined && min > def.above) ? { above: def.above } : {}),
    ...(max !== Infinity ? { max } : {}),
  };
}

function description(f: SlashField, cap: BotCap | undefined): string {
  const { def } = f;
  let text = def.slash ? (def.slash.description ?? def.help) : def.help;
  if (f.advanced) {
    const notes: string[] = [];
    const b = bounds(def, cap);
    if (b.min !== undefined && b.max !== undefined) notes.push(`${b.min}–${b.max}`);
    if (def.default !== undefined && !cap?.ownDefault) notes.push(`default ${def.default}`);
    text = `Advanced: ${text}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  }
  return text.slice(0, 100);
}

/** Adds the basic or the advanced request options, in schema order. */
export function addRequestOptions<B extends SlashCommandOptionsOnlyBuilder>(b: B, which: 'basic' | 'advanced', fields: RequestFields = REQUEST_FIELDS, caps = REGISTRATION_CAPS): B {
  for (const f of slashFields(fields)) {
    if (f.advanced !== (which === 'advanced')) continue;
    const cap = caps[f.key];
    const desc = description(f, cap);
    const { min, max, above } = bounds(f.def, cap);
    if (f.def.kind === 'integer' || f.def.kind === 'number') {
      const lo = min ?? above;
      const setUp = <O extends SlashCommandIntegerOption | SlashCommandNumberOption>(o: O): O => {
        o.setName(f.name).setDescription(desc);
        if (lo !== undefined) o.setMinValue(lo);
        if (max !== undefined) o.setMaxValue(max);
        return o;
      };
      if (f.def.kind === 'integer') b.addIntegerOption(setUp);
      else b.addNumberOption(setUp);
    } else if (f.def.kind === 'choice') {
      b.addStringOption((o) => o.setName(f.name).setDescription(desc).addChoices(...(f.def.choices ?? []).map((c) => ({ name: c, value: c }))));
    } else if (f.def.kind === 'text') {
      b.addStringOption((o) => o.setName(f.name).setDescription(desc));
    }
  }
  return b;
}

/** The values of the request options the user gave (absent ones are null), keyed by inputKey. */
export function readRequestOptions(o: ChatInputCommandInteraction['options'], fields: RequestFields = REQUEST_FIELDS): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const f of slashFields(fields)) {
    out[f.inputKey] = f.def.kind === 'integer' ? o.getInteger(f.name) : f.def.kind === 'number' ? o.getNumber(f.name) : o.getString(f.name);
  }
  return out;
}
