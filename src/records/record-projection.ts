/**
 * Record projections: what the cache keeps of a record's data bytes. "lean" drops the secrets an
 * authorizer never reads (the raw ID token, the OAuth access and refresh tokens) from sessions
 * before they are cached, for memory (~1.3 KB of a ~1.9 KB session) and so a heap dump or a
 * leaked record cannot replay a user's tokens.
 *
 * The projection is a wire-level copy that skips the dropped fields (no decode, no re-encode):
 * it runs on every ingested record. Everything the cache promises is unchanged:
 * - Session.Validate looks at `refresh_token` only to ask "is it empty?", so a non-empty refresh
 *   token becomes the 1-byte placeholder {@link LEAN_REFRESH_TOKEN_PLACEHOLDER} instead of
 *   disappearing; an empty one stays empty;
 * - every other field keeps its bytes, so indexes, local queries and the decoded message are the
 *   same apart from the dropped fields;
 * - data that does not parse stays unusable: a malformed nested token message, or malformed data
 *   as a whole, is replaced by one byte that no decoder accepts (never kept with its secrets).
 * (Pomerium's OAuthToken has no ID token field: the raw ID token is Session.id_token.raw.)
 */
import { SESSION_TYPE } from "./type-urls.js";
import { MalformedWireError, newWireField, nextField, varintSize, WIRE_LEN, type WireField } from "./wire-scan.js";

/**
 * Returns the bytes to keep for a live record's data: `data` itself when nothing changes, else an
 * array the function does not reuse (the cache may keep it as is).
 */
export type RecordProjection = (typeUrl: string, data: Uint8Array) => Uint8Array;

/** What `refresh_token` holds in a lean session when the original was non-empty. */
export const LEAN_REFRESH_TOKEN_PLACEHOLDER = "*";
const PLACEHOLDER_BYTE = 0x2a; // "*"

/** What happens to a field of a message, by field number. */
const KEEP = 0;
const DROP = 1;
const PLACEHOLDER = 2; // a non-empty string becomes the placeholder; an empty one stays
const NESTED = 3; // a message projected with its own rule

/** Wire-level rule for one message: an action per field number (a table: this runs per field). */
interface MessageRule {
  readonly actions: Uint8Array;
  readonly nested: readonly (MessageRule | undefined)[];
}

function messageRule(drop: readonly number[], placeholder: readonly number[], nested: ReadonlyMap<number, MessageRule>): MessageRule {
  const actions = new Uint8Array(1 + Math.max(0, ...drop, ...placeholder, ...nested.keys()));
  const subRules: (MessageRule | undefined)[] = [];
  for (const n of drop) actions[n] = DROP;
  for (const n of placeholder) actions[n] = PLACEHOLDER;
  for (const [n, rule] of nested) {
    actions[n] = NESTED;
    subRules[n] = rule;
  }
  return { actions, nested: subRules };
}

// Field numbers from proto/session/session.proto (the same as Pomerium's v0.33 protos).
const ID_TOKEN_RULE = messageRule([5 /* raw */], [], new Map());
const OAUTH_TOKEN_RULE = messageRule([1 /* access_token */], [4 /* refresh_token */], new Map());
const SESSION_RULE = messageRule(
  [],
  [],
  new Map([
    [6 /* id_token */, ID_TOKEN_RULE],
    [7 /* oauth_token */, OAUTH_TOKEN_RULE],
  ]),
);

/** What a data that cannot be parsed becomes: field number 0, refused by every protobuf decoder. */
const UNPARSABLE = 0x00;

// The copy plan: triples of [op, a, b]. Reused across calls (projection is synchronous).
const OP_COPY = 0; // copy input [a, b)
const OP_VARINT = 1; // write varint a
const OP_BYTE = 2; // write byte a
let ops = new Int32Array(96);
let planLength = 0;
const fieldScratch: WireField[] = [];

function push(op: number, a: number, b: number): void {
  if (planLength + 3 > ops.length) {
    const bigger = new Int32Array(ops.length * 2);
    bigger.set(ops);
    ops = bigger;
  }
  ops[planLength++] = op;
  ops[planLength++] = a;
  ops[planLength++] = b;
}

/** Adds a copy of [start, end), merged with the previous copy when adjacent. */
function pushCopy(start: number, end: number): void {
  if (start === end) return;
  if (planLength >= 3 && ops[planLength - 3] === OP_COPY && ops[planLength - 1] === start) {
    ops[planLength - 1] = end;
    return;
  }
  push(OP_COPY, start, end);
}


/** A changed flag shared by the recursion (set when anything is dropped or replaced). */
let changed = false;

/**
 * Plans the projection of the message in [start, end) under `rule`; returns the projected size.
 * @throws MalformedWireError
 */
function planMessage(bytes: Uint8Array, start: number, end: number, rule: MessageRule, depth: number): number {
  const field = fieldScratch[depth] ?? (fieldScratch[depth] = newWireField());
  const actions = rule.actions;
  let size = 0;
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    let n: number;
    let wireType: number;
    let valueStart: number;
    const first = bytes[pos] as number;
    if (first < 0x80 && (first & 7) === WIRE_LEN && first >= 8) {
      // Fast path for what sessions are made of: a one-byte tag of a length-delimited field.
      n = first >>> 3;
      wireType = WIRE_LEN;
      let length = 0;
      let factor = 1;
      let p = pos + 1;
      for (let i = 0; ; i++) {
        if (i === 10) throw new MalformedWireError("varint too long");
        if (p >= end) throw new MalformedWireError("truncated varint");
        const b = bytes[p++] as number;
        length += (b & 0x7f) * factor;
        if (b < 0x80) break;
        factor *= 128;
      }
      valueStart = p;
      pos = p + length;
      if (pos > end) throw new MalformedWireError("truncated field");
    } else {
      pos = nextField(bytes, pos, end, field);
      n = field.fieldNumber;
      wireType = field.wireType;
      valueStart = field.valueStart;
    }
    const action = n < actions.length ? (actions[n] as number) : KEEP;
    // Only length-delimited occurrences carry strings and messages; anything else is kept as is.
    if (action === KEEP || wireType !== WIRE_LEN) {
      pushCopy(fieldStart, pos);
      size += pos - fieldStart;
      continue;
    }
    if (action === DROP) {
      changed = true;
      continue;
    }
    const tag = n * 8 + WIRE_LEN;
    if (action === PLACEHOLDER) {
      const length = pos - valueStart;
      if (length === 0 || (length === 1 && bytes[valueStart] === PLACEHOLDER_BYTE)) {
        // Empty, or already the placeholder (projecting twice changes nothing).
        pushCopy(fieldStart, pos);
        size += pos - fieldStart;
      } else {
        changed = true;
        push(OP_VARINT, tag, 0);
        push(OP_VARINT, 1, 0);
        push(OP_BYTE, PLACEHOLDER_BYTE, 0);
        size += varintSize(tag) + 2;
      }
      continue;
    }
    // NESTED
    push(OP_VARINT, tag, 0);
    const lengthSlot = planLength;
    push(OP_VARINT, 0, 0);
    const inner = planNested(bytes, valueStart, pos, rule.nested[n] as MessageRule, depth + 1);
    ops[lengthSlot + 1] = inner;
    size += varintSize(tag) + varintSize(inner) + inner;
  }
  return size;
}

/** Plans a nested message; a malformed one becomes one unparsable byte (the original fails to decode too). */
function planNested(bytes: Uint8Array, start: number, end: number, rule: MessageRule, depth: number): number {
  const mark = planLength;
  try {
    return planMessage(bytes, start, end, rule, depth);
  } catch (err) {
    if (!(err instanceof MalformedWireError)) throw err;
    planLength = mark;
    push(OP_BYTE, UNPARSABLE, 0);
    changed = true;
    return 1;
  }
}

function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Runs the planned ops into `out` (at least the planned size). */
function execute(bytes: Uint8Array, out: Uint8Array): void {
  let pos = 0;
  for (let i = 0; i < planLength; i += 3) {
    const a = ops[i + 1] as number;
    switch (ops[i]) {
      case OP_COPY: {
        const b = ops[i + 2] as number;
        if (b - a > 32) out.set(bytes.subarray(a, b), pos);
        else for (let j = a; j < b; j++) out[pos + j - a] = bytes[j] as number;
        pos += b - a;
        break;
      }
      case OP_VARINT:
        pos = writeVarint(out, pos, a);
        break;
      default:
        out[pos++] = a;
    }
  }
}

/** Plans the projection; returns the projected size, or -1 when nothing changes. */
function planProjection(bytes: Uint8Array, rule: MessageRule): number {
  planLength = 0;
  changed = false;
  let size: number;
  try {
    size = planMessage(bytes, 0, bytes.length, rule, 0);
  } catch (err) {
    if (!(err instanceof MalformedWireError)) throw err;
    // The data does not parse: keep one byte no decoder accepts, never the bytes themselves.
    planLength = 0;
    push(OP_BYTE, UNPARSABLE, 0);
    return 1;
  }
  return changed ? size : -1;
}

/**
 * The lean projection: sessions lose `id_token.raw` and `oauth_token.access_token`, and a
 * non-empty `oauth_token.refresh_token` becomes {@link LEAN_REFRESH_TOKEN_PLACEHOLDER}. Every
 * other type is returned as is. Returns `data` itself when a session holds none of these, else a
 * new array of exactly the projected size.
 */
export function leanProjection(typeUrl: string, data: Uint8Array): Uint8Array {
  if (typeUrl !== SESSION_TYPE) return data;
  const size = planProjection(data, SESSION_RULE);
  if (size < 0) return data;
  const out = new Uint8Array(size);
  execute(data, out);
  return out;
}

let scratch = new Uint8Array(4096);

/**
 * {@link leanProjection} without allocating the result: a projected session is written into a
 * buffer reused by the next call, and a view of it returned. Only for a caller that copies the
 * bytes before projecting again (the replica copies every record into its slabs).
 */
export function leanProjectionTransient(typeUrl: string, data: Uint8Array): Uint8Array {
  if (typeUrl !== SESSION_TYPE) return data;
  const size = planProjection(data, SESSION_RULE);
  if (size < 0) return data;
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  execute(data, scratch);
  return scratch.subarray(0, size);
}

/** The `projection` option of createDatabrokerCache. */
export type ProjectionOption = "full" | "lean" | RecordProjection;

/**
 * The function to run per record, or undefined for "full" (keep every byte).
 * @param transient the caller copies the result before the next call (the replica, which copies
 *   every record into its slabs): "lean" then writes into a reused buffer instead of allocating
 */
export function projectionFunction(option: ProjectionOption, transient = false): RecordProjection | undefined {
  if (option === "full") return undefined;
  if (option === "lean") return transient ? leanProjectionTransient : leanProjection;
  return option;
}
