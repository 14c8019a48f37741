import type { Config } from '../config.ts';
import { imagine } from './imagine.ts';
import { queue } from './queue.ts';
import { reverie } from './reverie.ts';
import type { Command } from '../bot/interaction.ts';

export const COMMANDS: readonly Command[] = [imagine, queue, reverie];

/** The JSON bodies to register (PUT bulk overwrite). */
export function commandDefinitions(config: Config) {
  return COMMANDS.map((c) => c.definition(config));
}
