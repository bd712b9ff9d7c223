/**
 * Deep-freezing a decoded message, so the one decoded object a record holds can
 * be handed to every reader without any of them being able to change what the others see.
 *
 * Why freeze, and not copy per read: a hot getSession must allocate nothing (a copy of a decoded
 * session is ~5.8 KB), while freezing costs once, at decode time. protobuf-es v2 messages are
 * plain objects (fields, arrays for repeated fields, plain objects for maps, `{ case, value }`
 * for oneofs), so Object.freeze over the graph makes every level read-only: assignments throw in
 * strict mode (ES modules) and are ignored otherwise.
 *
 * The walk follows a plan compiled once per schema (FreezePlan): the steps name only the fields
 * that can hold an object or bytes, and a oneof finds its selected field by case name in a map.
 * Object.freeze itself is most of the cost (~40-100 ns per object; a session has ~43 objects); a
 * walk that also visited every scalar field and searched each oneof's fields took about a fifth
 * more CPU than the plan.
 *
 * Where protobuf-es v2 does not hold a field as a message, the plan follows what it holds
 * (the rules are in field-representation.ts, shared with the record decoder):
 * - a google.protobuf.Struct field (anywhere but inside google.protobuf.Value) holds a JsonObject,
 *   plain JSON whose objects and arrays are frozen as JSON (its keys are data, not fields);
 * - a singular wrapper field outside a oneof (google.protobuf.StringValue, BytesValue, ...)
 *   holds the unwrapped scalar: bytes for BytesValue, otherwise nothing to freeze.
 *
 * A Uint8Array cannot be frozen (JavaScript refuses to freeze a typed array with elements), and
 * protobuf-es decodes bytes fields and unknown fields as views into the bytes it decoded from,
 * which for the replica is a slab shared with other records. So each of them (bytes fields,
 * `$unknown[i].data`) is copied once into memory of its own and exposed through a getter that
 * hands every read a fresh copy: no reader sees the slab, and none can write into what another
 * reads. Sessions, users and service accounts have no bytes fields.
 */
import { ScalarType, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { holdsStructAsJson, holdsUnwrapped } from "./field-representation.js";

type Slots = Record<string | number, unknown>;

/** How a step freezes what one field (or one oneof) holds. */
const MESSAGE = 0;
const JSON_VALUE = 1;
const BYTES = 2;
const LIST = 3;
const MAP = 4;
const ONEOF = 5;
const NOTHING = 6;
type ValueKind = typeof MESSAGE | typeof JSON_VALUE | typeof BYTES | typeof NOTHING;

/** What one value of a field is, to freeze it: a message (with its plan), JSON, bytes, or a scalar. */
interface ValueStep {
  readonly kind: ValueKind;
  /** For MESSAGE. */
  readonly plan: FreezePlan | undefined;
}

type Step =
  | { readonly kind: typeof MESSAGE | typeof JSON_VALUE | typeof BYTES; readonly key: string; readonly plan: FreezePlan | undefined }
  /** A repeated or map field: the container is frozen, each element as `element` says. */
  | { readonly kind: typeof LIST | typeof MAP; readonly key: string; readonly element: ValueStep }
  /** A oneof: `{ case, value }` is frozen, the value as its case's field says (absent: a scalar). */
  | { readonly kind: typeof ONEOF; readonly key: string; readonly cases: ReadonlyMap<string, ValueStep> };

/** The steps for one schema: only fields that can hold an object or bytes. */
interface FreezePlan {
  readonly steps: Step[];
}

const NOTHING_STEP: ValueStep = { kind: NOTHING, plan: undefined };
const BYTES_STEP: ValueStep = { kind: BYTES, plan: undefined };
const JSON_STEP: ValueStep = { kind: JSON_VALUE, plan: undefined };

const plans = new WeakMap<DescMessage, FreezePlan>();

/** Freezes `message` (of `schema`) and everything reachable from it; returns it. */
export function deepFreezeMessage<T extends Message>(schema: DescMessage, message: T): T {
  freezeMessage(planFor(schema), message as unknown as Slots);
  return message;
}

/**
 * The plan for `schema`, compiled on first use. The plan is cached before its steps are
 * filled, so a schema that contains itself (directly or not) refers to its one plan.
 */
function planFor(schema: DescMessage): FreezePlan {
  let plan = plans.get(schema);
  if (plan !== undefined) return plan;
  const steps: Step[] = [];
  plan = { steps };
  plans.set(schema, plan);
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      const cases = new Map<string, ValueStep>();
      for (const field of member.fields) {
        const value = singularValue(field);
        if (value.kind !== NOTHING) cases.set(field.localName, value);
      }
      steps.push({ kind: ONEOF, key: member.localName, cases });
      continue;
    }
    switch (member.fieldKind) {
      case "message":
      case "scalar": {
        const value = singularValue(member);
        if (value.kind !== NOTHING) steps.push({ kind: value.kind, key: member.localName, plan: value.plan });
        break;
      }
      case "enum":
        break;
      case "list":
        steps.push({ kind: LIST, key: member.localName, element: elementValue(member) });
        break;
      case "map":
        steps.push({ kind: MAP, key: member.localName, element: elementValue(member) });
        break;
    }
  }
  return plan;
}

/** A singular field's value (or a oneof case's), as protobuf-es holds it. */
function singularValue(field: DescField): ValueStep {
  if (field.fieldKind === "scalar") return field.scalar === ScalarType.BYTES ? BYTES_STEP : NOTHING_STEP;
  if (field.fieldKind !== "message") return NOTHING_STEP;
  if (holdsStructAsJson(field)) return JSON_STEP;
  if (holdsUnwrapped(field)) {
    // Held as the wrapper's own `value`.
    const wrapped = field.message.fields[0];
    return wrapped?.fieldKind === "scalar" && wrapped.scalar === ScalarType.BYTES ? BYTES_STEP : NOTHING_STEP;
  }
  return { kind: MESSAGE, plan: planFor(field.message) };
}

/** One element of a repeated field, or one value of a map field. */
function elementValue(field: DescField & { fieldKind: "list" | "map" }): ValueStep {
  const kind = field.fieldKind === "list" ? field.listKind : field.mapKind;
  if (kind === "message" && field.message !== undefined) return holdsStructAsJson(field) ? JSON_STEP : { kind: MESSAGE, plan: planFor(field.message) };
  if (kind === "scalar" && field.scalar === ScalarType.BYTES) return BYTES_STEP;
  return NOTHING_STEP;
}

function freezeMessage(plan: FreezePlan, message: Slots): void {
  const steps = plan.steps;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as Step;
    const value = message[step.key];
    if (value === undefined) continue;
    switch (step.kind) {
      case MESSAGE:
      case JSON_VALUE:
      case BYTES:
        freezeValue(step, message, step.key);
        break;
      case LIST: {
        const list = value as Slots & unknown[];
        if (step.element.kind !== NOTHING) for (let k = 0; k < list.length; k++) freezeValue(step.element, list, k);
        Object.freeze(list);
        break;
      }
      case MAP: {
        const map = value as Slots;
        if (step.element.kind !== NOTHING) for (const k of Object.keys(map)) freezeValue(step.element, map, k);
        Object.freeze(map);
        break;
      }
      case ONEOF: {
        const selected = value as Slots;
        const name = selected["case"];
        if (name !== undefined) {
          const chosen = step.cases.get(name as string);
          if (chosen !== undefined) freezeValue(chosen, selected, "value");
        }
        Object.freeze(selected);
        break;
      }
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

/** Freezes `owner[key]` as `how` says. */
function freezeValue(how: ValueStep, owner: Slots, key: string | number): void {
  const value = owner[key];
  if (value === undefined) return;
  switch (how.kind) {
    case MESSAGE:
      freezeMessage(how.plan as FreezePlan, value as Slots);
      return;
    case JSON_VALUE:
      freezeJson(value);
      return;
    case BYTES:
      privateBytes(owner, key);
      return;
  }
}

/** Freezes a JsonValue: every object and array in it. */
function freezeJson(value: unknown): void {
  if (typeof value !== "object" || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) freezeJson(item);
  } else {
    const object = value as Slots;
    for (const k of Object.keys(object)) freezeJson(object[k]);
  }
  Object.freeze(value);
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
