import { describe, expect, it } from 'vitest';
import {
  fairOrder,
  markServed,
  NEVER_SERVED,
  pickDevice,
  projectQueue,
  seedServed,
  unitFactor,
  type CostedJob,
  type DeviceLoad,
  type FairJob,
  type ServedStamps,
} from '../../src/jobs/fairness.ts';

/** `name` is `<user><n>`: user 'A', job 'A1'. guild undefined = DM. */
function job(name: string, seq: number, guild: string | null = 'g1', startedAt?: number): FairJob {
  return { id: name, seq, userId: name.replace(/\d+$/, ''), guildId: guild, ...(startedAt !== undefined ? { startedAt } : {}) };
}

const stamps = (users: Record<string, number>, guilds: Record<string, number>): ServedStamps => ({
  tick: Math.max(0, ...Object.values(users), ...Object.values(guilds)),
  users: new Map(Object.entries(users)),
  guilds: new Map(Object.entries(guilds)),
});

describe('fairOrder', () => {
  const cases: { name: string; waiting: FairJob[]; served?: ServedStamps; limit?: number; order: string[] }[] = [
    {
      name: 'user A queues 5, then user B 1: B goes second, A keeps FIFO',
      waiting: [job('A1', 1), job('A2', 2), job('A3', 3), job('A4', 4), job('A5', 5), job('B1', 6)],
      order: ['A1', 'B1', 'A2', 'A3', 'A4', 'A5'],
    },
    {
      name: 'guilds take turns first (all DMs are one guild), then users within a guild',
      waiting: [job('A1', 1), job('A2', 2), job('B1', 3), job('C1', 4, 'g2'), job('C2', 5, 'g2'), job('D1', 6, null), job('E1', 7, null)],
      order: ['A1', 'C1', 'D1', 'B1', 'C2', 'E1', 'A2'],
    },
    {
      name: 'the user served least recently goes first, whatever the age of the jobs',
      waiting: [job('A1', 1), job('B1', 2), job('C1', 3)],
      served: stamps({ A: 5, B: 3 }, { g1: 5 }),
      order: ['C1', 'B1', 'A1'],
    },
    {
      name: 'the guild served least recently goes first',
      waiting: [job('A1', 1, 'g1'), job('B1', 2, 'g2'), job('C1', 3, 'g3')],
      served: stamps({}, { g1: 2, g2: 1 }),
      order: ['C1', 'B1', 'A1'],
    },
    {
      name: 'interrupted jobs go before fresh ones, across guilds and users',
      waiting: [job('A1', 1, 'g1'), job('B1', 2, 'g2', 100), job('C1', 3, 'g1', 50)],
      order: ['C1', 'B1', 'A1'],
    },
    {
      name: "within a user: interrupted first (by first start), then by creation",
      waiting: [job('A1', 1), job('A2', 2, 'g1', 200), job('A3', 3, 'g1', 100), job('A4', 4)],
      order: ['A3', 'A2', 'A1', 'A4'],
    },
    {
      name: 'a user with jobs in two guilds keeps both in the order',
      waiting: [job('U1', 1, 'g1'), job('U2', 2, 'g2'), job('V1', 3, 'g2')],
      order: ['U1', 'V1', 'U2'],
    },
    {
      name: 'limit stops early (dispatch takes the first)',
      waiting: [job('A1', 1), job('A2', 2), job('B1', 3)],
      limit: 1,
      order: ['A1'],
    },
    { name: 'nothing waiting', waiting: [], order: [] },
  ];
  for (const c of cases)
    it(c.name, () => {
      const got = fairOrder(c.waiting, c.served ?? NEVER_SERVED, c.limit).map((j) => j.id);
      expect(got).toEqual(c.order);
      // the order does not depend on the order the jobs are given in
      expect(fairOrder([...c.waiting].reverse(), c.served ?? NEVER_SERVED, c.limit).map((j) => j.id)).toEqual(c.order);
    });

  it('dispatching the first job and stamping it leaves the rest of the projected order unchanged', () => {
    const waiting = [job('A1', 1), job('A2', 2), job('B1', 3), job('C1', 4, 'g2'), job('D1', 5, null), job('D2', 6, null)];
    const full = fairOrder(waiting, NEVER_SERVED).map((j) => j.id);
    let served = NEVER_SERVED;
    let left = waiting;
    const dispatched: string[] = [];
    while (left.length) {
      const next = fairOrder(left, served, 1)[0]!;
      dispatched.push(next.id);
      served = markServed(served, next);
      left = left.filter((j) => j !== next);
    }
    expect(dispatched).toEqual(full);
  });
});

describe('served stamps', () => {
  it('markServed stamps the user and the guild (DMs as one) without changing its input', () => {
    const s1 = markServed(NEVER_SERVED, { userId: 'A', guildId: null });
    const s2 = markServed(s1, { userId: 'B', guildId: 'g1' });
    expect(NEVER_SERVED.tick).toBe(0);
    expect(s1).toEqual({ tick: 1, users: new Map([['A', 1]]), guilds: new Map([['@dm', 1]]) });
    expect(s2).toEqual({ tick: 2, users: new Map([['A', 1], ['B', 2]]), guilds: new Map([['@dm', 1], ['g1', 2]]) });
  });

  const seeds: { name: string; history: { userId: string; guildId: string | null; at: number }[]; users: [string, number][]; guilds: [string, number][] }[] = [
    { name: 'no history', history: [], users: [], guilds: [] },
    {
      name: 'oldest start first, whatever the input order',
      history: [
        { userId: 'B', guildId: 'g1', at: 300 },
        { userId: 'A', guildId: 'g1', at: 100 },
        { userId: 'C', guildId: null, at: 200 },
      ],
      users: [['A', 1], ['C', 2], ['B', 3]],
      guilds: [['g1', 3], ['@dm', 2]],
    },
  ];
  for (const c of seeds)
    it(`seedServed: ${c.name}`, () => {
      const s = seedServed(c.history);
      expect(s.tick).toBe(c.history.length);
      expect([...s.users].sort()).toEqual([...c.users].sort());
      expect([...s.guilds].sort()).toEqual([...c.guilds].sort());
    });

  it('after seeding, the users served longest ago go first', () => {
    const served = seedServed([
      { userId: 'A', guildId: 'g1', at: 2000 },
      { userId: 'B', guildId: 'g1', at: 1000 },
    ]);
    expect(fairOrder([job('A1', 1), job('B1', 2), job('C1', 3)], served).map((j) => j.id)).toEqual(['C1', 'B1', 'A1']);
  });
});

describe('projectQueue', () => {
  const cj = (id: string, steps: number, over: Partial<CostedJob['request']> & { checkpointStep?: number } = {}): CostedJob => {
    const { checkpointStep, ...req } = over;
    return { id, seq: 0, userId: id, guildId: 'g1', request: { steps, width: 256, height: 256, ...req }, ...(checkpointStep !== undefined ? { checkpointStep } : {}) };
  };
  const dev = (device: string, secPerUnitStep: number, over: Partial<DeviceLoad> = {}): DeviceLoad => ({ device, secPerUnitStep, concurrency: 1, paused: false, running: [], ...over });

  const cases: { name: string; order: CostedJob[]; devices: DeviceLoad[]; eta: [number, number][] }[] = [
    { name: 'one idle device: jobs one after another', order: [cj('a', 100), cj('b', 100)], devices: [dev('cpu', 0.5)], eta: [[0, 50], [50, 100]] },
    {
      name: 'cost = steps × (w·h/256²) × (cutn/32) × seconds per unit step',
      order: [cj('a', 25, { width: 512, height: 256, cutn: 64 })],
      devices: [dev('cpu', 0.5)],
      eta: [[0, 50]],
    },
    { name: 'saved progress is not counted again', order: [cj('a', 100, { checkpointStep: 60 })], devices: [dev('cpu', 1)], eta: [[0, 40]] },
    {
      name: "a running job's remaining steps come first",
      order: [cj('a', 10)],
      devices: [dev('cpu', 0.5, { running: [{ request: { steps: 100, width: 256, height: 256 }, step: 40 }] })],
      eta: [[30, 35]],
    },
    {
      name: 'two devices: the earliest free slot, the faster one on ties',
      order: [cj('a', 10), cj('b', 10), cj('c', 10)],
      devices: [dev('cpu', 1), dev('cuda:0', 0.1)],
      eta: [[0, 1], [0, 10], [1, 2]],
    },
    {
      name: 'a paused device takes nothing',
      order: [cj('a', 10), cj('b', 10)],
      devices: [dev('cpu', 1), dev('cuda:0', 0.1, { paused: true })],
      eta: [[0, 10], [10, 20]],
    },
    {
      name: 'all paused: ETAs as if they were not',
      order: [cj('a', 10)],
      devices: [dev('cpu', 1, { paused: true })],
      eta: [[0, 10]],
    },
    {
      name: 'two slots on one device share its speed',
      order: [cj('a', 10), cj('b', 10), cj('c', 10)],
      devices: [dev('cpu', 1, { concurrency: 2 })],
      eta: [[0, 20], [0, 20], [20, 40]],
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const got = projectQueue(c.order, c.devices);
      expect(got.map((e) => e.position)).toEqual(c.order.map((_, i) => i + 1));
      expect(got.map((e) => e.job)).toEqual(c.order);
      expect(got.map((e) => [e.etaSec, e.etaDoneSec])).toEqual(c.eta);
    });
});

describe('pickDevice and unitFactor', () => {
  const slot = (device: string, secPerUnitStep: number, busy = 0, paused = false, concurrency = 1) => ({ device, secPerUnitStep, busy, paused, concurrency });
  const cases: { name: string; devices: ReturnType<typeof slot>[]; pick: string | undefined }[] = [
    { name: 'the fastest free device', devices: [slot('cpu', 1.5), slot('cuda:0', 0.08)], pick: 'cuda:0' },
    { name: 'a busy fast device is skipped', devices: [slot('cpu', 1.5), slot('cuda:0', 0.08, 1)], pick: 'cpu' },
    { name: 'a paused device is skipped', devices: [slot('cpu', 1.5), slot('cuda:0', 0.08, 0, true)], pick: 'cpu' },
    { name: 'a device with a free second slot', devices: [slot('cpu', 1.5), slot('cuda:0', 0.08, 1, false, 2)], pick: 'cuda:0' },
    { name: 'the first listed on ties', devices: [slot('cuda:1', 0.1), slot('cuda:0', 0.1)], pick: 'cuda:1' },
    { name: 'none free', devices: [slot('cpu', 1.5, 1)], pick: undefined },
  ];
  for (const c of cases) it(`pickDevice: ${c.name}`, () => expect(pickDevice(c.devices)).toBe(c.pick));

  it.each([
    [{ width: 256, height: 256 }, 1],
    [{ width: 512, height: 512 }, 4],
    [{ width: 256, height: 256, cutn: 64 }, 2],
    [{ width: 128, height: 256, cutn: 16 }, 0.25],
  ])('unitFactor(%o) = %d', (r, f) => expect(unitFactor(r)).toBe(f));
});
