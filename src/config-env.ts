/** Reading .env files, and the application id a bot token carries. */
import fs from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';

export type Env = Record<string, string | undefined>;
const SNOWFLAKE = /^\d{17,20}$/;

/**
 * Reads a .env file into `target` without overriding what is already there. Missing file: nothing
 * happens. Returns the names it set.
 */
export function loadDotenv(file = path.resolve(process.cwd(), '.env'), target: Env = process.env): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const parsed = dotenv.parse(text);
  const set: string[] = [];
  for (const [k, val] of Object.entries(parsed)) {
    if (target[k] === undefined) {
      target[k] = val;
      set.push(k);
    }
  }
  return set;
}

/** A bot token's first segment is the base64 of the bot's user id, which is its application id. */
export function appIdFromToken(token: string): string | undefined {
  const first = token.split('.')[0];
  if (!first) return undefined;
  try {
    const id = Buffer.from(first, 'base64').toString('utf8');
    return SNOWFLAKE.test(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

