const DISCORD_EPOCH = 1420070400000n;
let increment = 0n;
let lastMs = 0n;

/** A Discord-shaped snowflake (18–19 digits today): ms since the Discord epoch << 22 | counter. */
export function snowflake(): string {
  let ms = BigInt(Date.now()) - DISCORD_EPOCH;
  if (ms <= lastMs) ms = lastMs;
  if (ms !== lastMs) increment = 0n;
  lastMs = ms;
  const id = (ms << 22n) | (1n << 17n) | (increment & 0xfffn);
  increment += 1n;
  if (increment > 0xfffn) {
    increment = 0n;
    lastMs += 1n;
  }
  return id.toString();
}
