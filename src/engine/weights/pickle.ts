/**
 * A small, safe pickle VM (protocols 0–5, no code execution) for torch checkpoints.
 *
 * Value mapping:
 *   dict / collections.OrderedDict → Map (keys: str/int as-is; a class global used as a key becomes
 *                                     its "module.Name" string, as Lightning's `callbacks` does)
 *   list, tuple → Array               set / frozenset → Set
 *   int → number (bigint beyond ±2^53) float → number   bool → boolean   None → null
 *   str → string                       bytes / bytearray → Uint8Array (also `_codecs.encode(s,'latin1')`)
 *   GLOBAL → PickleGlobal (a class or function reference, never executed)
 *   anything built from an unknown global (REDUCE / NEWOBJ / NEWOBJ_EX / INST / OBJ) →
 *       PickleObject { __class__: 'module.Name', args, kwargs?, state } (state from BUILD)
 * Known callables are supplied by the caller through `reducers` ("module.name" → function).
 */

export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get fullName(): string { return `${this.module}.${this.name}`; }
  toString(): string { return this.fullName; }
}

export class PickleObject {
  state: unknown = undefined;
  kwargs?: Map<unknown, unknown>;
  constructor(readonly __class__: string, readonly args: unknown[]) {}
}

export type Reducer = (args: unknown[]) => unknown;

/** The data ended inside the pickle (more bytes may complete it: see torch-legacy.ts). */
export class PickleTruncatedError extends Error {
  override name = 'PickleTruncatedError';
}

export interface UnpickleOptions {
  /** "module.name" → implementation used by REDUCE/NEWOBJ. Others give PickleObject stubs. */
  reducers?: Record<string, Reducer>;
  /** BINPERSID / PERSID handler. */
  persistentLoad?: (pid: unknown) => unknown;
  /** for error messages */
  label?: string;
  /** When given, a GLOBAL it rejects ("module", "name") stops the unpickling with an error. */
  allowGlobal?: (module: string, name: string) => boolean;
}

const MARK = Symbol('MARK');
type Stack = unknown[];

function dictSet(d: unknown, k: unknown, v: unknown, fail: (m: string) => never): void {
  if (k instanceof PickleGlobal) k = k.fullName;
  if (d instanceof Map) d.set(k, v);
  else if (d instanceof PickleObject) {
    // __setitem__ on an unknown dict subclass: keep items on the stub
    if (!(d.state instanceof Map)) d.state = new Map();
    (d.state as Map<unknown, unknown>).set(k, v);
  } else fail(`SETITEM on a ${describe(d)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PickleObject) return `${v.__class__} object`;
  if (v instanceof PickleGlobal) return `global ${v.fullName}`;
  if (Array.isArray(v)) return 'list/tuple';
  if (v instanceof Map) return 'dict';
  return typeof v;
}

export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return unpickleAt(data, 0, opts).value;
}

/** Unpickle the pickle that starts at byte `start`; `end` is the byte after its STOP. */
export function unpickleAt(data: Uint8Array, start: number, opts: UnpickleOptions = {}): { value: unknown; end: number } {
  const label = opts.label ?? 'pickle';
  const reducers = opts.reducers ?? {};
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  const globals = new Map<string, PickleGlobal>();
  const memo = new Map<number, unknown>();
  let stack: Stack = [];
  const metastack: Stack[] = [];
  let pos = start;
  let op = 0;
  let opPos = 0;

  const fail = (msg: string, truncated = false): never => {
    const m = `${label}: ${msg} (opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opPos})`;
    throw truncated ? new PickleTruncatedError(m) : new Error(m);
  };
  const need = (n: number) => { if (pos + n > data.length) fail('pickle data truncated', true); };
  const u8 = () => { need(1); return data[pos++]!; };
  const u16 = () => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const u32 = () => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const i32 = () => { need(4); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length - pos)) fail(`pickle data truncated (length ${v} exceeds the ${data.length - pos} bytes left)`, true);
    return Number(v);
  };
  const bytes = (n: number) => { need(n); const b = data.subarray(pos, pos + n); pos += n; return b; };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line', true);
    const s = latin1.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => { if (stack.length === 0) fail('stack underflow'); return stack.pop(); };
  const top = () => { if (stack.length === 0) fail('stack underflow'); return stack[stack.length - 1]; };
  const popMark = (): Stack => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail('MARK expected');
    stack = prev!;
    return items;
  };
  const getGlobal = (module: string, name: string): PickleGlobal => {
    const key = `${module}.${name}`;
    if (opts.allowGlobal && !opts.allowGlobal(module, name)) fail(`refusing global ${key}`);
    let g = globals.get(key);
    if (!g) { g = new PickleGlobal(module, name); globals.set(key, g); }
    return g;
  };
  const call = (f: unknown, args: unknown, kwargs?: unknown): unknown => {
    if (!Array.isArray(args)) fail(`call arguments are a ${describe(args)}, not a tuple`);
    if (!(f instanceof PickleGlobal)) fail(`cannot call a ${describe(f)}`);
    const g = f as PickleGlobal;
    const r = reducers[g.fullName];
    if (r) return r(args as unknown[]);
    const o = new PickleObject(g.fullName, args as unknown[]);
    if (kwargs instanceof Map && kwargs.size) o.kwargs = kwargs as Map<unknown, unknown>;
    return o;
  };
  const longLE = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const intText = (s: string): number | bigint => {
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    const v = BigInt(t);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const pyStringLiteral = (s: string): string => {
    // protocol-0 STRING: a quoted Python repr; handle the common escapes
    const q = s[0];
    if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('bad STRING literal');
    return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[\\'"nrt0])/g, (_m, e: string) => {
      if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
      return ({ n: '\n', r: '\r', t: '\t', '0': '\0' } as Record<string, string>)[e] ?? e;
    });
  };
  const build = (obj: unknown, state: unknown) => {
    if (obj instanceof PickleObject) {
      if (obj.state instanceof Map && state instanceof Map) for (const [k, v] of state) obj.state.set(k, v);
      else obj.state = state;
    }
    // BUILD on a Map (e.g. OrderedDict._metadata), tensor or other known value: ignored
  };

  for (;;) {
    opPos = pos;
    if (pos >= data.length) fail('pickle ended without STOP', true);
    op = data[pos++]!;
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME (8-byte length; frames are just inline data)
      case 0x2e: return { value: pop(), end: pos }; // STOP '.'
      case 0x28: metastack.push(stack); stack = []; break; // MARK '('
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT '}'
      case 0x5d: stack.push([]); break; // EMPTY_LIST ']'
      case 0x29: stack.push([]); break; // EMPTY_TUPLE ')'
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = top(); if (!(s instanceof Set)) fail('ADDITEMS on non-set'); for (const x of items) (s as Set<unknown>).add(x); break; }
      case 0x91: { const items = popMark(); stack.push(new Set(items)); break; } // FROZENSET
      case 0x74: { const items = popMark(); stack.push(items); break; } // TUPLE 't'
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST 'l'
      case 0x64: { // DICT 'd'
        const items = popMark();
        const m = new Map();
        for (let i = 0; i + 1 < items.length; i += 2) dictSet(m, items[i], items[i + 1], fail);
        stack.push(m);
        break;
      }
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x4e: stack.push(null); break; // NONE 'N'
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT 'J'
      case 0x4b: stack.push(u8()); break; // BININT1 'K'
      case 0x4d: stack.push(u16()); break; // BININT2 'M'
      case 0x8a: stack.push(longLE(bytes(u8()))); break; // LONG1
      case 0x8b: stack.push(longLE(bytes(u32()))); break; // LONG4
      case 0x49: { // INT 'I' (text; I00/I01 are False/True)
        const s = line();
        stack.push(s === '00' ? false : s === '01' ? true : intText(s));
        break;
      }
      case 0x4c: stack.push(intText(line())); break; // LONG 'L'
      case 0x46: stack.push(Number.parseFloat(line())); break; // FLOAT 'F'
      case 0x47: { need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT 'G' (big-endian)
      case 0x58: stack.push(utf8.decode(bytes(u32()))); break; // BINUNICODE 'X'
      case 0x8c: stack.push(utf8.decode(bytes(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(bytes(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a?: string, b?: string) => String.fromCodePoint(parseInt((a ?? b)!, 16)))); break; // UNICODE 'V'
      case 0x55: stack.push(latin1.decode(bytes(u8()))); break; // SHORT_BINSTRING 'U'
      case 0x54: stack.push(latin1.decode(bytes(u32()))); break; // BINSTRING 'T'
      case 0x53: stack.push(pyStringLiteral(line())); break; // STRING 'S'
      case 0x42: stack.push(bytes(u32()).slice()); break; // BINBYTES 'B'
      case 0x43: stack.push(bytes(u8()).slice()); break; // SHORT_BINBYTES 'C'
      case 0x8e: stack.push(bytes(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(bytes(u64()).slice()); break; // BYTEARRAY8
      case 0x63: { const module = line(); const name = line(); stack.push(getGlobal(module, name)); break; } // GLOBAL 'c'
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(getGlobal(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); const f = pop(); stack.push(call(f, args)); break; } // REDUCE 'R'
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { const kw = pop(); const args = pop(); const cls = pop(); stack.push(call(cls, args, kw)); break; } // NEWOBJ_EX
      case 0x69: { // INST 'i'
        const module = line(); const name = line();
        const items = popMark();
        stack.push(call(getGlobal(module, name), items));
        break;
      }
      case 0x6f: { const items = popMark(); const cls = items.shift(); stack.push(call(cls, items)); break; } // OBJ 'o'
      case 0x62: { const state = pop(); build(top(), state); break; } // BUILD 'b'
      case 0x51: { // BINPERSID 'Q'
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id found but no persistent_load given');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x50: { // PERSID 'P'
        const pid = line();
        if (!opts.persistentLoad) fail('persistent id found but no persistent_load given');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT 'q'
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT 'r'
      case 0x70: memo.set(Number.parseInt(line(), 10), top()); break; // PUT 'p'
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: case 0x67: { // BINGET 'h' / LONG_BINGET 'j' / GET 'g'
        const k = op === 0x68 ? u8() : op === 0x6a ? u32() : Number.parseInt(line(), 10);
        if (!memo.has(k)) fail(`memo key ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); dictSet(top(), k, v, fail); break; } // SETITEM 's'
      case 0x75: { // SETITEMS 'u'
        const items = popMark();
        const d = top();
        for (let i = 0; i + 1 < items.length; i += 2) dictSet(d, items[i], items[i + 1], fail);
        break;
      }
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail(`APPEND to a ${describe(l)}`); (l as unknown[]).push(v); break; } // APPEND 'a'
      case 0x65: { // APPENDS 'e'
        const items = popMark();
        const l = top();
        if (Array.isArray(l)) { for (const x of items) l.push(x); }
        else if (l instanceof PickleObject) { if (!Array.isArray(l.state)) l.state = []; (l.state as unknown[]).push(...items); }
        else fail(`APPENDS to a ${describe(l)}`);
        break;
      }
      case 0x30: pop(); break; // POP '0'
      case 0x31: popMark(); break; // POP_MARK '1'
      case 0x32: stack.push(top()); break; // DUP '2'
      case 0x82: case 0x83: case 0x84: return fail('extension registry opcodes (EXT1/2/4) are not supported');
      case 0x97: case 0x98: return fail('out-of-band buffers (protocol 5) are not supported');
      default: return fail('unknown pickle opcode');
    }
  }
}
