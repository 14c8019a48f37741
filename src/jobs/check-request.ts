/** The scheduler's own check of a request (front ends check ranges and server limits before this). */
import type { NewJob } from './types.ts';

/** Throws a TypeError naming the first field that is missing or not a valid number. */
export function validateRequest(r: NewJob['request']): void {
  const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
  if (!r || typeof r.prompt !== 'string') throw new TypeError('request.prompt must be a string');
  if (!posInt(r.steps) || !posInt(r.width) || !posInt(r.height)) throw new TypeError('request.steps, width and height must be positive integers');
  if (!Number.isInteger(r.seed)) throw new TypeError('request.seed must be an integer');
  if (r.cutn !== undefined && !posInt(r.cutn)) throw new TypeError('request.cutn must be a positive integer');
}
