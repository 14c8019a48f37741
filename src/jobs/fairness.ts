/**
 * The fairness rule and the ETA projection, as pure functions over plain data (no store, no runner), so
 * the in-process Scheduler and a distributed backend order jobs the same way.
 *
 *   1. jobs that already started once and were interrupted (crash or graceful restart) go before all
 *      fresh jobs (among themselves by the same rule), so work in progress finishes before new work starts;
 *   2. guild round-robin: among guilds with waiting jobs, the one served least recently goes first (never
 *      served = first; ties: the guild whose oldest waiting job is oldest). All DMs together count as one
 *      pseudo-guild, so a flood of DM users cannot crowd out the servers;
 *   3. user round-robin within that guild: the user served least recently (same tie rule);
 *   4. FIFO within a user in a guild, interrupted jobs first (by first start).
 *
 * So user A with 5 jobs and user B with 1 alternate A, B, A, A, ...; a big guild gets the same turns as a
 * small one. "Served" stamps are taken when a job starts (markServed) and seeded from history at start
 * (seedServed).
 *
 * Positions and ETAs lay the fair order onto the device slots (a slot frees when its running job's
 * remaining cost is done). Cost of a job on a device = remaining steps × unitFactor × seconds per unit
 * step of that device.
 */

/** The fields of a waiting job the rule reads. */
export interface FairJob {
  id: string;
  seq: number; // creation order
  userId: string;
  guildId: string | null; // null in DMs
  startedAt?: number; // set once a job has started (it was interrupted if it waits again)
}

/** When each guild and user was last served: higher stamp = more recently; absent = never. */
export interface ServedStamps {
  readonly tick: number;
  readonly guilds: ReadonlyMap<string, number>;
  readonly users: ReadonlyMap<string, number>;
}

/** A past start, for seeding the stamps after a restart. */
export interface ServiceRecord {
  userId: string;
  guildId: string | null;
  at: number; // ms since epoch
}

/** The request fields the cost model reads. */
export interface CostRequest {
  steps: number;
  width: number;
  height: number;
  cutn?: number; // 32 when absent
}

export interface CostedJob extends FairJob {
  request: CostRequest;
  checkpointStep?: number; // work before it is not redone
}

export interface DeviceLoad {
  device: string;
  secPerUnitStep: number;
  concurrency: number;
  paused: boolean;
  /** the jobs running on it: `step` = steps already done */
  running: readonly { request: CostRequest; step: number }[];
}

/** position 1 = next to start; etaSec: seconds until it starts; etaDoneSec: until it is finished. */
export interface Projected<J> {
  job: J;
  position: number;
  etaSec: number;
  etaDoneSec: number;
}

/** All DMs share this guild key. */
export const DM_GUILD = '@dm';

export const guildKey = (j: { guildId: string | null }): string => j.guildId ?? DM_GUILD;

export const NEVER_SERVED: ServedStamps = { tick: 0, guilds: new Map(), users: new Map() };

/** Seconds per unit step (256×256, cutn 32) before a device has been measured. */
export function defaultSecPerUnitStep(device: string): number {
  return device.startsWith('cuda') ? 0.08 : 1.5;
}

/** (w·h/256²) × (cutn/32): how much one step of this request costs relative to a 256², cutn 32 step. */
export function unitFactor(r: { width: number; height: number; cutn?: number }): number {
  return ((r.width * r.height) / 65536) * ((r.cutn ?? 32) / 32);
}

/** Order of one user's waiting jobs in one guild: interrupted ones first (by first start), then by creation. */
export function compareWithinUser(a: FairJob, b: FairJob): number {
  return (a.startedAt ? 0 : 1) - (b.startedAt ? 0 : 1) || (a.startedAt ?? 0) - (b.startedAt ?? 0) || a.seq - b.seq;
}

interface MutableStamps {
  tick: number;
  guilds: Map<string, number>;
  users: Map<string, number>;
}

const copyStamps = (s: ServedStamps): MutableStamps => ({ tick: s.tick, guilds: new Map(s.guilds), users: new Map(s.users) });

function stamp(s: MutableStamps, job: { userId: string; guildId: string | null }): void {
  s.tick++;
  s.guilds.set(guildKey(job), s.tick);
  s.users.set(job.userId, s.tick);
}

/** The stamps after `job` starts. */
export function markServed(s: ServedStamps, job: { userId: string; guildId: string | null }): ServedStamps {
  const next = copyStamps(s);
  stamp(next, job);
  return next;
}

/** Stamps from past starts (oldest first after sorting), so a restart does not favour anyone. */
export function seedServed(history: readonly ServiceRecord[], base: ServedStamps = NEVER_SERVED): ServedStamps {
  const s = copyStamps(base);
  for (const r of [...history].sort((a, b) => a.at - b.at)) stamp(s, r);
  return s;
}

type Key = [number, number, number];
// lowest wins: [interrupted job waiting ? 0 : 1, served stamp, oldest seq]
const less = (a: Key, b: Key): boolean => (a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2]);

/**
 * The waiting jobs (any order) in the order the rule would start them, given the served stamps: the
 * start of the queue is the next job to dispatch. `limit` stops early (dispatch needs only the first).
 */
export function fairOrder<J extends FairJob>(waiting: readonly J[], served: ServedStamps, limit = Infinity): J[] {
  const byGuild = new Map<string, Map<string, J[]>>();
  for (const j of waiting) {
    const g = guildKey(j);
    let users = byGuild.get(g);
    if (!users) byGuild.set(g, (users = new Map()));
    let list = users.get(j.userId);
    if (!list) users.set(j.userId, (list = []));
    list.push(j);
  }
  const groups = [...byGuild].map(([g, users]) => ({ g, users: [...users].map(([u, list]) => ({ u, list: list.sort(compareWithinUser), next: 0 })) }));
  const s = copyStamps(served);
  const stampOf = (m: Map<string, number>, k: string): number => m.get(k) ?? -Infinity;
  const out: J[] = [];
  while (out.length < limit) {
    let best: { grp: (typeof groups)[number]; key: Key } | undefined;
    for (const grp of groups) {
      let minSeq = Infinity;
      let resumed = 1;
      for (const q of grp.users) {
        const h = q.list[q.next];
        if (!h) continue;
        if (h.seq < minSeq) minSeq = h.seq;
        if (h.startedAt) resumed = 0;
      }
      if (minSeq === Infinity) continue;
      const key: Key = [resumed, stampOf(s.guilds, grp.g), minSeq];
      if (!best || less(key, best.key)) best = { grp, key };
    }
    if (!best) break;
    let pick: { q: (typeof groups)[number]['users'][number]; key: Key } | undefined;
    for (const q of best.grp.users) {
      const h = q.list[q.next];
      if (!h) continue;
      const key: Key = [h.startedAt ? 0 : 1, stampOf(s.users, q.u), h.seq];
      if (!pick || less(key, pick.key)) pick = { q, key };
    }
    const job = pick!.q.list[pick!.q.next++]!;
    out.push(job);
    stamp(s, job);
  }
  return out;
}

/** Seconds to run `steps` more steps of `request` on a device slot of this speed. */
export function jobCost(steps: number, request: CostRequest, secPerUnitStep: number): number {
  return Math.max(0, steps) * unitFactor(request) * secPerUnitStep;
}

/**
 * Positions and ETAs of jobs in fair order, laid onto the device slots (paused devices take nothing
 * unless every device is paused, so ETAs stay meaningful). A device's slots share its speed.
 */
export function projectQueue<J extends CostedJob>(order: readonly J[], devices: readonly DeviceLoad[]): Projected<J>[] {
  const live = devices.filter((d) => !d.paused);
  const lanes: { slow: number; free: number }[] = [];
  for (const d of live.length ? live : devices) {
    const slow = d.secPerUnitStep * d.concurrency;
    const rem = d.running.map((r) => jobCost(r.request.steps - r.step, r.request, slow));
    for (let i = 0; i < d.concurrency; i++) lanes.push({ slow, free: rem[i] ?? 0 });
  }
  return order.map((job, i) => {
    let lane = lanes[0]!;
    for (const l of lanes) if (l.free < lane.free || (l.free === lane.free && l.slow < lane.slow)) lane = l;
    const etaSec = lane.free;
    lane.free += jobCost(job.request.steps - (job.checkpointStep ?? 0), job.request, lane.slow);
    return { job, position: i + 1, etaSec: Math.round(etaSec), etaDoneSec: Math.round(lane.free) };
  });
}

/** The device the next job goes to: the fastest unpaused one with a free slot (first listed on ties). */
export function pickDevice(devices: readonly { device: string; secPerUnitStep: number; paused: boolean; concurrency: number; busy: number }[]): string | undefined {
  let best: (typeof devices)[number] | undefined;
  for (const d of devices) if (!d.paused && d.busy < d.concurrency && (!best || d.secPerUnitStep < best.secPerUnitStep)) best = d;
  return best?.device;
}
