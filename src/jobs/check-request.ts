/** The scheduler's own check of a request: the one request schema's (front ends add their caps before this). */
import { checkRequest } from '../engine/request-schema.ts';
import type { NewJob } from './types.ts';

/** Throws a TypeError naming the first field that is missing or out of the engine's range. */
export function validateRequest(r: NewJob['request']): void {
  checkRequest(r);
}
