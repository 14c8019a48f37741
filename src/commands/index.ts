import type { Config } from '../config.ts';
import { imagine } from './imagine.ts';
import { paintThis } from './paint-this.ts';
import { queue } from './queue.ts';
import { reverie } from './reverie.ts';
import type { AnyCommand } from '../bot/interaction.ts';

export const COMMANDS: readonly AnyCommand[] = [imagine, queue, reverie, paintThis];

/** The JSON bodies to register (PUT bulk overwrite). */
export function commandDefinitions(config: Config) {
  return COMMANDS.map((c) => c.definition(config));
}
