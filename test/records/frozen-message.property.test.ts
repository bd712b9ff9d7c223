/**
 * deepFreezeMessage against what it promises, checked without the schema: after the freeze,
 * every object reachable from the message (through any own property, whatever protobuf-es holds
 * there: messages, arrays, maps, oneofs, JSON of Struct fields) is frozen, no byte array is
 * reachable as a plain property (bytes read through a getter, a fresh copy with a buffer of its
 * own on every read), and the message still says what it said before. Random messages of every
 * registered record type and the test types, decoded from their encoding (as the replica decodes
 * them, bytes as views of a larger block) and built by create() (as options are).
 */
import { create, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { deepFreezeMessage } from "../../src/records/frozen-message.js";
import { decodeMessageData } from "../../src/records/record-data-decoder.js";
import { recordRegistry } from "../../src/records/record-registry.js";
import { KitchenSchema, WithWrapperSchema } from "./decoder-test-schemas.js";
import { messageInit } from "./message-arbitrary.js";

const schemas: DescMessage[] = [KitchenSchema];
for (const type of recordRegistry) if (type.kind === "message") schemas.push(type);

/**
 * The first way `root` is not read-only, as a path and a reason, or undefined. Walks every own
 * property of every object reachable from it (keys, not fields: JSON keys such as "fields" or
 * "$typeName" are walked as data).
 */
function writableReach(root: unknown): string | undefined {
  const seen = new Set<object>();
  const visit = (value: unknown, path: string): string | undefined => {
    if (typeof value !== "object" || value === null || seen.has(value)) return undefined;
    seen.add(value);
    if (ArrayBuffer.isView(value)) return `${path}: a byte array reachable as a property`;
    if (!Object.isFrozen(value)) return `${path}: not frozen`;
    for (const [key, descriptor] of Object.entries(Object.getOwnPropertyDescriptors(value))) {
      const at = `${path}.${key}`;
      if (descriptor.get !== undefined) {
        const first: unknown = descriptor.get.call(value);
        const second: unknown = descriptor.get.call(value);
        if (!(first instanceof Uint8Array) || !(second instanceof Uint8Array)) return `${at}: a getter that does not give bytes`;
        if (first === second) return `${at}: two reads gave the same byte array`;
        if (first.buffer.byteLength !== first.byteLength) return `${at}: a view into a larger buffer`;
        continue;
      }
      const problem = visit(descriptor.value, at);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };
  return visit(root, "message");
}

/** An encoding of `schema`'s random message, as a view inside a larger block. */
function encodingInBlock(schema: DescMessage): fc.Arbitrary<Uint8Array> {
  return messageInit(schema)
    .map((init): Uint8Array | undefined => {
      try {
        const bytes = toBinary(schema, create(schema, init as never));
        const block = new Uint8Array(bytes.length + 8).fill(0xee);
        block.set(bytes, 4);
        return block.subarray(4, 4 + bytes.length);
      } catch {
        return undefined; // toBinary refuses a lone surrogate
      }
    })
    .filter((b): b is Uint8Array => b !== undefined);
}

function expectDeepFrozenAndUnchanged(schema: DescMessage, message: Message, before: Uint8Array): void {
  const reference = decodeMessageData(schema, before);
  expect(deepFreezeMessage(schema, message)).toBe(message);
  expect(writableReach(message)).toBeUndefined();
  expect(message).toEqual(reference); // NaN equal to NaN, bytes read through the getters
  expect(toBinary(schema, message)).toEqual(toBinary(schema, reference));
}

describe("deepFreezeMessage", () => {
  it.each(schemas.map((s) => [s.typeName, s] as const))("leaves nothing writable in a decoded random %s, and changes nothing it says", (_, schema) => {
    fc.assert(
      fc.property(encodingInBlock(schema), (bytes) => {
        const before = bytes.slice();
        expectDeepFrozenAndUnchanged(schema, decodeMessageData(schema, bytes), before);
        expect(bytes).toEqual(before); // the decoded-from bytes are not written to
      }),
      { numRuns: schema === KitchenSchema || schema === SessionSchema ? 200 : 30 },
    );
  });

  it("leaves nothing writable in a random Kitchen built by create()", () => {
    fc.assert(
      fc.property(messageInit(KitchenSchema), (init) => {
        const message = create(KitchenSchema, init as never);
        let bytes: Uint8Array;
        try {
          bytes = toBinary(KitchenSchema, message);
        } catch {
          return; // toBinary refuses a lone surrogate
        }
        expectDeepFrozenAndUnchanged(KitchenSchema, message, bytes);
      }),
      { numRuns: 200 },
    );
  });

  it("freezes Struct fields as JSON, whatever their keys are called (fields, kind, $typeName, $unknown)", () => {
    const json = { fields: { x: "text", kind: { case: "y" } }, kind: [1, { value: "v" }], $typeName: { a: [] }, $unknown: [{ no: 1 }], data: null };
    const init = {
      fStruct: json,
      rStruct: [json, { nested: { deeper: [{ deepest: true }] } }],
      mStringStruct: { k: json },
      choice: { case: "oStruct", value: json },
      fValue: { kind: { case: "structValue", value: { fields: { s: { kind: { case: "stringValue", value: "in a Value: a message" } } } } } },
    };
    const message = create(KitchenSchema, init as never);
    const bytes = toBinary(KitchenSchema, message);
    expectDeepFrozenAndUnchanged(KitchenSchema, decodeMessageData(KitchenSchema, bytes), bytes);
    expectDeepFrozenAndUnchanged(KitchenSchema, message, bytes);
  });

  it("keeps the bytes of wrapper fields (unwrapped, in a oneof, in a list) private", () => {
    const blob = new Uint8Array([1, 2, 3]);
    const init = { name: "n", blob, choice: { case: "oBlob", value: { value: new Uint8Array([4]) } }, rBlob: [{ value: new Uint8Array([5, 6]) }] };
    const bytes = toBinary(WithWrapperSchema, create(WithWrapperSchema, init as never));
    const block = new Uint8Array(bytes.length + 2);
    block.set(bytes, 1);
    const message = decodeMessageData(WithWrapperSchema, block.subarray(1, 1 + bytes.length));
    expect((message as unknown as { blob: Uint8Array }).blob).toEqual(blob); // held unwrapped
    expectDeepFrozenAndUnchanged(WithWrapperSchema, message, bytes);
  });

  it("keeps unknown fields' bytes private and frozen", () => {
    const known = toBinary(KitchenSchema, create(KitchenSchema, { fString: "s", child: { fInt32: 1 } } as never));
    // Field 999 (unknown to Kitchen), length-delimited, 3 bytes; and the same inside `child`.
    const unknown = [0xba, 0x3e, 3, 7, 8, 9];
    const child = toBinary(KitchenSchema, create(KitchenSchema, { fInt32: 2 } as never));
    const bytes = new Uint8Array([...known, ...unknown, 0xa2, 0x01, child.length + unknown.length, ...child, ...unknown]);
    const message = decodeMessageData(KitchenSchema, bytes);
    expect(message.$unknown?.length).toBe(1);
    expectDeepFrozenAndUnchanged(KitchenSchema, message, bytes);
  });

  it("freezes demo sessions all the way down", () => {
    const demo = new DemoRecords({ seed: 3, nowMs: 1_900_000_000_000 });
    for (let i = 0; i < 20; i++) {
      const bytes = toBinary(SessionSchema, demo.session(`session-${i}`, i));
      expectDeepFrozenAndUnchanged(SessionSchema, decodeMessageData(SessionSchema, bytes), bytes);
    }
  });
});
