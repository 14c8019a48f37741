/**
 * Helpers for the operations tests: a free loopback port, GET with a short timeout, and a strict parser
 * of the Prometheus text exposition format (0.0.4) that throws on anything a scraper could choke on.
 */
import http from 'node:http';
import net from 'node:net';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export interface Got {
  status: number;
  type: string;
  body: string;
}

export function get(url: string, timeoutMs = 5000): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, line: string): number {
  // the format takes Go's ParseFloat spellings, which ignore case (prom-client writes "Nan")
  if (/^\+?inf$/i.test(s)) return Infinity;
  if (/^-inf$/i.test(s)) return -Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)} in: ${line}`);
  return Number(s);
}

function parseSample(line: string): Sample {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( -?\d+)?$/.exec(line);
  if (!m) throw new Error(`not a sample line: ${line}`);
  const labels: Record<string, string> = {};
  const raw = m[2];
  if (raw) {
    let i = 1;
    while (i < raw.length - 1) {
      const eq = raw.indexOf('=', i);
      if (eq < 0) throw new Error(`bad labels in: ${line}`);
      const key = raw.slice(i, eq);
      if (!LABEL.test(key)) throw new Error(`bad label name ${JSON.stringify(key)} in: ${line}`);
      if (key in labels) throw new Error(`label ${key} twice in: ${line}`);
      if (raw[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`);
      let j = eq + 2;
      let v = '';
      for (;;) {
        const c = raw[j];
        if (c === undefined) throw new Error(`unterminated label value in: ${line}`);
        if (c === '"') break;
        if (c === '\\') {
          const n = raw[j + 1];
          if (n === 'n') v += '\n';
          else if (n === '\\' || n === '"') v += n;
          else throw new Error(`bad escape in: ${line}`);
          j += 2;
        } else {
          v += c;
          j++;
        }
      }
      labels[key] = v;
      i = j + 1;
      if (raw[i] === ',') i++;
      else if (i !== raw.length - 1) throw new Error(`expected , or } after a label in: ${line}`);
    }
  }
  return { name: m[1]!, labels, value: parseValue(m[3]!, line) };
}

const familyOf = (sample: string, fams: Map<string, Family>): Family | undefined => {
  const direct = fams.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const f = fams.get(sample.slice(0, -suffix.length));
      if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
    }
  }
  return undefined;
};

/**
 * Strict: every family has # HELP and # TYPE before its first sample, a family's samples are contiguous,
 * no family or series twice, counters end in _total and are ≥ 0, histogram buckets have increasing `le`,
 * cumulative counts, a +Inf bucket equal to _count, and a _sum. The text ends with a newline.
 */
export function parsePrometheus(text: string): Map<string, Family> {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const fams = new Map<string, Family>();
  const done = new Set<string>();
  let current: Family | undefined;
  const seen = new Set<string>();
  const pending = new Map<string, Partial<Family>>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue; // the text format ignores empty lines (prom-client puts one between families)
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) throw new Error(`unexpected comment: ${line}`);
      const [, kind, name, rest] = m as unknown as [string, 'HELP' | 'TYPE', string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name ${name}`);
      if (fams.has(name) || done.has(name)) throw new Error(`# ${kind} for ${name} after its samples or twice`);
      const p = pending.get(name) ?? {};
      if (kind === 'HELP') {
        if (p.help !== undefined) throw new Error(`two # HELP for ${name}`);
        p.help = rest;
      } else {
        if (p.type !== undefined) throw new Error(`two # TYPE for ${name}`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`bad type ${rest} for ${name}`);
        p.type = rest as Family['type'];
      }
      pending.set(name, p);
      continue;
    }
    const s = parseSample(line);
    let fam = current && familyOf(s.name, new Map([[current.name, current]]));
    if (!fam) {
      // a new family starts: it must have been announced
      const base = [s.name, ...['_bucket', '_sum', '_count'].filter((x) => s.name.endsWith(x)).map((x) => s.name.slice(0, -x.length))].find((n) => pending.has(n));
      if (!base) throw new Error(`sample before its # HELP and # TYPE: ${line}`);
      const p = pending.get(base)!;
      if (p.help === undefined || p.type === undefined) throw new Error(`${base} lacks # HELP or # TYPE before its samples`);
      if (base !== s.name && p.type !== 'histogram' && p.type !== 'summary') throw new Error(`sample ${s.name} does not belong to ${base}`);
      if (current) done.add(current.name);
      pending.delete(base);
      fam = { name: base, type: p.type, help: p.help, samples: [] };
      fams.set(base, fam);
      current = fam;
    }
    const key = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (seen.has(key)) throw new Error(`series twice: ${line}`);
    seen.add(key);
    if (fam.type === 'counter') {
      if (!s.name.endsWith('_total')) throw new Error(`counter ${s.name} should end in _total`);
      if (!(s.value >= 0)) throw new Error(`counter below zero: ${line}`);
    }
    if (fam.type === 'histogram' && s.name === fam.name) throw new Error(`histogram sample without _bucket/_sum/_count: ${line}`);
    fam.samples.push(s);
  }
  // a family may have HELP and TYPE but no samples yet (a labelled series never set)
  for (const f of fams.values()) if (f.type === 'histogram') checkHistogram(f);
  return fams;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Sample[]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(k) ?? { buckets: [] };
    groups.set(k, g);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}_bucket without le`);
      g.buckets.push(s);
    } else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else if (s.name === `${f.name}_count`) g.count = s.value;
  }
  for (const [k, g] of groups) {
    if (g.sum === undefined || g.count === undefined) throw new Error(`${f.name}${k}: _sum or _count missing`);
    const les = g.buckets.map((b) => parseValue(b.labels.le!, `le of ${f.name}`));
    if (les.at(-1) !== Infinity) throw new Error(`${f.name}${k}: the last bucket is not le="+Inf"`);
    for (let i = 1; i < les.length; i++) {
      if (!(les[i]! > les[i - 1]!)) throw new Error(`${f.name}${k}: le not increasing`);
      if (g.buckets[i]!.value < g.buckets[i - 1]!.value) throw new Error(`${f.name}${k}: buckets not cumulative`);
    }
    if (g.buckets.at(-1)!.value !== g.count) throw new Error(`${f.name}${k}: +Inf bucket ${g.buckets.at(-1)!.value} ≠ count ${g.count}`);
  }
}

/** The value of one series (labels must match exactly, le excluded unless given). */
export function value(fams: Map<string, Family>, family: string, sample: string, labels: Record<string, string> = {}): number | undefined {
  const f = fams.get(family);
  return f?.samples.find((s) => s.name === sample && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(Object.entries(labels).sort()))?.value;
}
