/**
 * Deep-freezing a decoded message, so the one decoded object a record holds can
 * be handed to every reader without any of them being able to change what the others see.
 *
 * Why freeze, and not copy per read: a hot getSession must allocate nothing (a copy of a decoded
 * session is ~5.8 KB), while freezing costs once, at decode time. protobuf-es v2 messages are
 * plain objects (fields, arrays for repeated fields, plain objects for maps, `{ case, value }`
 * for oneofs), so Object.freeze over the graph makes every level read-only: assignments throw in
 * strict mode (ES modules) and are ignored otherwise. The walk follows the schema, so it visits
 * only what can hold an object (Object.freeze costs ~100 ns per object; a session has ~70).
 *
 * A Uint8Array cannot be frozen (JavaScript refuses to freeze a typed array with elements), and
 * protobuf-es decodes bytes fields and unknown fields as views into the bytes it decoded from,
 * which for the replica is a slab shared with other records. So each of them (bytes fields,
 * `$unknown[i].data`) is copied once into memory of its own and exposed through a getter that
 * hands every read a fresh copy: no reader sees the slab, and none can write into what another
 * reads. Sessions, users and service accounts have no bytes fields.
 */
import { ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";

type Slots = Record<string | number, unknown>;

/** Freezes `message` (of `schema`) and everything reachable from it; returns it. */
export function deepFreezeMessage<T extends Message>(schema: DescMessage, message: T): T {
  freezeMessage(schema, message as unknown as Slots);
  return message;
}

function freezeMessage(schema: DescMessage, message: Slots): void {
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      const selected = message[member.localName] as Slots;
      if (selected["case"] !== undefined) {
        const field = member.fields.find((f) => f.localName === selected["case"]);
        if (field !== undefined) freezeField(field, selected, "value");
      }
      Object.freeze(selected);
    } else {
      freezeField(member, message, member.localName);
    }
  }
  const unknown = message["$unknown"] as Slots[] | undefined;
  if (unknown !== undefined) {
    for (const field of unknown) {
      privateBytes(field, "data");
      Object.freeze(field);
    }
    Object.freeze(unknown);
  }
  Object.freeze(message);
}

function freezeField(field: DescField, owner: Slots, key: string): void {
  const value = owner[key];
  if (value === undefined) return;
  switch (field.fieldKind) {
    case "message":
      freezeMessage(field.message, value as Slots);
      return;
    case "scalar":
      if (field.scalar === ScalarType.BYTES) privateBytes(owner, key);
      return;
    case "enum":
      return;
    case "list": {
      const list = value as unknown[];
      if (field.listKind === "message") for (const item of list) freezeMessage(field.message, item as Slots);
      else if (field.scalar === ScalarType.BYTES) for (let i = 0; i < list.length; i++) privateBytes(list as unknown as Slots, i);
      Object.freeze(list);
      return;
    }
    case "map": {
      const map = value as Slots;
      if (field.mapKind === "message") for (const k of Object.keys(map)) freezeMessage(field.message, map[k] as Slots);
      else if (field.scalar === ScalarType.BYTES) for (const k of Object.keys(map)) privateBytes(map, k);
      Object.freeze(map);
      return;
    }
  }
}

/**
 * Replaces a byte array in the graph with a private copy read through a copying getter (an empty
 * one too: even a zero-length view's `.buffer` is the whole slab).
 */
function privateBytes(owner: Slots, key: string | number): void {
  const bytes = owner[key];
  if (!(bytes instanceof Uint8Array)) return;
  const kept = bytes.slice();
  Object.defineProperty(owner, key, {
    get: () => kept.slice(),
    enumerable: true,
    configurable: false,
  });
}
