/**
 * Deep-freezing a decoded message, so the one decoded object the replica memoises per record can
 * be handed to every reader without any of them being able to change what the others see.
 *
 * Why freeze, and not copy per read: a hot getSession must allocate nothing (a copy of a decoded
 * session is ~5.8 KB), while freezing costs once, at decode time. protobuf-es v2 messages are
 * plain objects (fields, arrays for repeated fields, plain objects for maps, `{ case, value }`
 * for oneofs), so Object.freeze over the graph makes every level read-only: assignments throw in
 * strict mode (ES modules) and are ignored otherwise.
 *
 * A Uint8Array cannot be frozen (JavaScript refuses to freeze a typed array with elements), and
 * protobuf-es decodes bytes fields and unknown fields as views into the bytes it decoded from,
 * which for the replica is a slab shared with other records. So each Uint8Array in the graph
 * (bytes fields, `$unknown[i].data`) is copied once into memory of its own and exposed through a
 * getter that hands every read a fresh copy: no reader sees the slab, and none can write into
 * what another reads. Messages without bytes (sessions, users, service accounts) have none.
 */

/** The one empty, frozen byte array every empty bytes field is replaced with. */
const EMPTY_BYTES: Uint8Array = Object.freeze(new Uint8Array(0));

/** Freezes `message` and everything reachable from it (see the module comment); returns it. */
export function deepFreezeMessage<T extends object>(message: T): T {
  freezeGraph(message);
  return message;
}

function freezeGraph(node: object): void {
  if (Object.isFrozen(node)) return;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) freezeSlot(node, i, node[i]);
  } else {
    const record = node as Record<string, unknown>;
    for (const key of Object.keys(record)) freezeSlot(record, key, record[key]);
  }
  Object.freeze(node);
}

function freezeSlot(owner: object, key: string | number, value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  if (value instanceof Uint8Array) {
    privateBytes(owner, key, value);
    return;
  }
  freezeGraph(value);
}

/** Replaces a byte array in the graph with a private copy read through a copying getter. */
function privateBytes(owner: object, key: string | number, bytes: Uint8Array): void {
  if (bytes.length === 0) {
    (owner as Record<string | number, unknown>)[key] = EMPTY_BYTES;
    return;
  }
  const kept = bytes.slice();
  Object.defineProperty(owner, key, {
    get: () => kept.slice(),
    enumerable: true,
    configurable: false,
  });
}
