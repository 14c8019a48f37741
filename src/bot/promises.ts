/**
 * Promises a message made that the store must keep. On a graceful stop the messages of waiting and
 * paused jobs say they will carry on; their ids go to <dataDir>/carry-on.json. On the next start, any
 * of those jobs the store no longer has (a store restored from an older backup, one moved aside) gets
 * its message edited to say it could not carry on, instead of promising for ever.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { JobStoreApi } from '../jobs/store-api.ts';
import type { DiscordPort, MessageRef } from './discord-port.ts';
import { errorSummary } from './discord-port.ts';
import { escapeMd, shortPrompt } from './format.ts';

export interface CarryOnPromise {
  jobId: string;
  message: MessageRef;
  prompt: string;
}

export const PROMISES_FILE = 'carry-on.json';

export function savePromises(dataDir: string, list: CarryOnPromise[]): void {
  const file = path.join(dataDir, PROMISES_FILE);
  if (!list.length) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(list));
  fs.renameSync(`${file}.tmp`, file);
}

export function readPromises(dataDir: string): CarryOnPromise[] {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(dataDir, PROMISES_FILE), 'utf8')) as unknown;
    return Array.isArray(v) ? (v as CarryOnPromise[]).filter((p) => p && typeof p.jobId === 'string' && p.message?.messageId) : [];
  } catch {
    return [];
  }
}

export function lostJobMessage(prompt: string): string {
  return [
    `**${escapeMd(shortPrompt(prompt, 300))}**`,
    '⚠️ This picture could not carry on after the restart: the bot’s job store was replaced (restored from an older backup, or started anew) and no longer has this job. Sorry! Run /imagine again to paint it.',
  ].join('\n');
}

/** Edits the messages of promised jobs the store does not have; then forgets the promises. Returns how many were told. */
export async function keepPromises(dataDir: string, store: JobStoreApi, port: DiscordPort, log: Logger): Promise<number> {
  const list = readPromises(dataDir);
  let told = 0;
  for (const p of list) {
    if (store.getJob(p.jobId)) continue; // still there: it carries on, or its failure is shown in its message
    try {
      await port.editMessage(p.message, { content: lostJobMessage(p.prompt), components: [] });
      told++;
      log.warn({ job: p.jobId, message: p.message.messageId }, 'a job promised to carry on is not in the store; its message says so');
    } catch (err) {
      log.warn({ job: p.jobId, err: errorSummary(err) }, 'could not tell a lost job’s message');
    }
  }
  fs.rmSync(path.join(dataDir, PROMISES_FILE), { force: true });
  return told;
}
