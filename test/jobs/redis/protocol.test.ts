/** The Redis protocol helpers (no Redis needed). */
import { describe, expect, it } from 'vitest';
import { bullId, decodeResult, encodeResult, isTransient, recordId, redactRedisUrl } from '../../../src/jobs/redis/protocol.ts';
import { redisSecrets } from '../../../src/jobs/redis/secrets.ts';

describe('redis protocol', () => {
  it('never gives BullMQ an all-digit job id (it refuses them), and maps back', () => {
    expect(bullId('180491837732')).not.toMatch(/^\d+$/);
    expect(recordId(bullId('180491837732'))).toBe('180491837732');
  });
  it('round-trips a result with its bytes', () => {
    const r = { png: Buffer.from([1, 2, 3]), timelapseGif: Buffer.from([4]), finalZ: { data: Float32Array.from([0.5, -1]), shape: [1, 2] }, metadata: { a: 1 } };
    const h = Object.fromEntries(Object.entries(encodeResult(r)).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
    const back = decodeResult(h)!;
    expect(back.png).toEqual(r.png);
    expect(back.timelapseGif).toEqual(r.timelapseGif);
    expect(Array.from(back.finalZ!.data)).toEqual([0.5, -1]);
    expect(back.metadata).toEqual({ a: 1 });
  });
  it('keeps the Redis password out of logs', () => {
    const url = 'redis://:s3cret-password-123@redis.example:6379/0';
    expect(redactRedisUrl(url)).not.toContain('s3cret');
    expect(redisSecrets({ REDIS_URL: url })).toEqual([url, 's3cret-password-123']);
    expect(redisSecrets({})).toEqual([]);
  });
  it('tells a Redis that is away from a bad command', () => {
    expect(isTransient(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(new Error('Connection is closed.'))).toBe(true);
    expect(isTransient(new Error('Custom Id cannot be integers'))).toBe(false);
  });
});
