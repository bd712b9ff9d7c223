/**
 * The fast SyncLatestResponse / SyncResponse decoder against protobuf-es's fromBinary: for
 * generated messages it takes the fast path and builds objects fromBinary would build (deep
 * strict equality, protobuf `equals`, the same key order, Any.value a view of the input of the
 * input's class); for mutated, truncated, concatenated or unknown-field-laden encodings it gives
 * fromBinary's result or throws as fromBinary does.
 */
import { create, equals, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { AnySchema, TimestampSchema, type Any, type Timestamp } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DataBrokerService,
  RecordSchema,
  SyncLatestResponseSchema,
  SyncResponseSchema,
  type Record,
  type SyncLatestResponse,
  type SyncResponse,
} from "../../gen/databroker/databroker_pb.js";
import { SessionSchema } from "../../gen/session/session_pb.js";
import { DemoRecords, SESSION_TYPE_URL } from "../../src/demo/demo-records.js";
import {
  decodeSyncLatestResponse,
  decodeSyncResponse,
  fastSyncLatestResponse,
  fastSyncResponse,
  responseDecoderFor,
} from "../../src/transport/sync-response-decoder.js";

type UnknownField = { no: number; wireType: number; data: Uint8Array };

function varintBytes(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** A well-formed unknown field of any wire type; field numbers include the known ones (1..6). */
const unknownField: fc.Arbitrary<UnknownField> = fc.oneof(
  fc.record({ no: fc.integer({ min: 1, max: 40 }), v: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }).map(({ no, v }) => ({ no, wireType: 0, data: new Uint8Array(varintBytes(v)) })),
  fc.record({ no: fc.integer({ min: 1, max: 40 }), b: fc.uint8Array({ maxLength: 20 }) }).map(({ no, b }) => ({ no, wireType: 2, data: new Uint8Array([...varintBytes(BigInt(b.length)), ...b]) })),
  fc.record({ no: fc.integer({ min: 1, max: 40 }), b: fc.uint8Array({ minLength: 4, maxLength: 4 }) }).map(({ no, b }) => ({ no, wireType: 5, data: b })),
  fc.record({ no: fc.integer({ min: 1, max: 40 }), b: fc.uint8Array({ minLength: 8, maxLength: 8 }) }).map(({ no, b }) => ({ no, wireType: 1, data: b })),
);
const maybeUnknown = fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.array(unknownField, { minLength: 1, maxLength: 2 }) });

const text = fc.oneof(
  fc.string({ maxLength: 50 }),
  fc.string({ unit: "binary", maxLength: 50 }),
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.constantFrom("\uFEFFbom", "type.googleapis.com/session.Session", "é", "😀x", ""),
);

function withUnknown<T extends object>(message: T, unknown: UnknownField[] | undefined): T {
  if (unknown !== undefined) (message as { $unknown?: UnknownField[] }).$unknown = unknown;
  return message;
}

const timestamp = (nanos: fc.Arbitrary<number>, unknown: fc.Arbitrary<UnknownField[] | undefined>): fc.Arbitrary<Timestamp | undefined> =>
  fc.option(
    fc
      .record({
        seconds: fc.oneof(fc.bigInt({ min: 0n, max: 300_000_000_000n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })),
        nanos,
        unknown,
      })
      .map(({ seconds, nanos, unknown }) => withUnknown(create(TimestampSchema, { seconds, nanos }), unknown)),
    { nil: undefined },
  );

const any = (unknown: fc.Arbitrary<UnknownField[] | undefined>): fc.Arbitrary<Any | undefined> =>
  fc.option(
    fc
      .record({ typeUrl: text, value: fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 100, maxLength: 400 })), unknown })
      .map(({ typeUrl, value, unknown }) => withUnknown(create(AnySchema, { typeUrl, value }), unknown)),
    { nil: undefined },
  );

/** Records as a server sends them (no unknown fields, valid nanos): the fast path must take them. */
const record = (nanos: fc.Arbitrary<number>, unknown: fc.Arbitrary<UnknownField[] | undefined>): fc.Arbitrary<Record> =>
  fc
    .record({
      version: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 20n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 2n ** 49n - 1n, 2n ** 49n, 2n ** 63n, 2n ** 64n - 1n)),
      type: text,
      id: text,
      data: any(unknown),
      modifiedAt: timestamp(nanos, unknown),
      deletedAt: timestamp(nanos, unknown),
      unknown,
    })
    .map(({ unknown, ...init }) => withUnknown(create(RecordSchema, init), unknown));

const validNanos = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 999_999_999 }), fc.constant(2 ** 31 - 1));
const anyNanos = fc.oneof(validNanos, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const serverRecord = record(validNanos, fc.constant(undefined));
const oddRecord = record(anyNanos, maybeUnknown);

const syncLatest = (r: fc.Arbitrary<Record>): fc.Arbitrary<SyncLatestResponse> =>
  fc.oneof(
    { weight: 4, arbitrary: r.map((value) => create(SyncLatestResponseSchema, { response: { case: "record", value } })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ serverVersion: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), latestRecordVersion: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) })
        .map((value) => create(SyncLatestResponseSchema, { response: { case: "versions", value } })),
    },
  );
const sync = (r: fc.Arbitrary<Record>): fc.Arbitrary<SyncResponse> => r.map((value) => create(SyncResponseSchema, { response: { case: "record", value } }));

/** Object keys, recursively, in insertion order (toStrictEqual ignores key order). */
function keyShape(value: unknown): unknown {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return typeof value;
  return Object.entries(value).map(([k, v]) => [k, keyShape(v)]);
}

/** Any.value of a decoded record, if any. */
function anyValue(message: SyncLatestResponse | SyncResponse): Uint8Array | undefined {
  return message.response.case === "record" ? message.response.value.data?.value : undefined;
}

function expectSame<S extends DescMessage>(schema: S, actual: MessageShape<S>, expected: MessageShape<S>): void {
  expect(actual).toStrictEqual(expected);
  expect(equals(schema, actual, expected)).toBe(true);
  expect(keyShape(actual)).toStrictEqual(keyShape(expected));
  const a = anyValue(actual as SyncLatestResponse);
  const e = anyValue(expected as SyncLatestResponse);
  if (a !== undefined && e !== undefined) {
    // A view into the same input (or both the shared zero value), of the same class.
    expect(a.constructor).toBe(e.constructor);
    expect(a.buffer).toBe(e.buffer);
    expect(a.byteOffset).toBe(e.byteOffset);
  }
}

/** decode(bytes) gives fromBinary's message, or both throw. */
function expectLikeFromBinary<S extends DescMessage>(schema: S, decode: (b: Uint8Array) => MessageShape<S>, bytes: Uint8Array): void {
  let expected: MessageShape<S> | undefined;
  let expectedError: unknown;
  try {
    expected = fromBinary(schema, bytes);
  } catch (e) {
    expectedError = e;
  }
  if (expected === undefined) {
    expect(() => decode(bytes)).toThrow((expectedError as Error).message);
    return;
  }
  expectSame(schema, decode(bytes), expected);
}

const inputKinds = [
  ["Uint8Array", (b: Uint8Array) => b],
  ["Buffer (as grpc-js delivers)", (b: Uint8Array) => Buffer.from(b)],
  // A view at an offset into a larger buffer, as a slice of a socket read would be.
  ["offset view", (b: Uint8Array) => { const big = new Uint8Array(b.length + 7); big.set(b, 3); return big.subarray(3, 3 + b.length); }],
] as const;

/** Raw byte mutations of an encoding. */
const mutation: fc.Arbitrary<(b: Uint8Array) => Uint8Array> = fc.oneof(
  fc.nat().map((n) => (b: Uint8Array) => b.subarray(0, b.length === 0 ? 0 : n % b.length)),
  fc.record({ at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }).map(({ at, v }) => (b: Uint8Array) => {
    const c = b.slice();
    if (c.length > 0) c[at % c.length] = v;
    return c;
  }),
  fc.record({ at: fc.nat(), ins: fc.uint8Array({ minLength: 1, maxLength: 4 }) }).map(({ at, ins }) => (b: Uint8Array) => {
    const i = b.length === 0 ? 0 : at % b.length;
    return new Uint8Array([...b.subarray(0, i), ...ins, ...b.subarray(i)]);
  }),
  unknownField.map((u) => (b: Uint8Array) => new Uint8Array([...b, ...varintBytes(BigInt(u.no * 8 + u.wireType)), ...u.data])),
);

describe("decodeSyncLatestResponse", () => {
  for (const [kind, wrap] of inputKinds) {
    it(`takes the fast path and equals fromBinary for generated messages (${kind} input)`, () => {
      fc.assert(
        fc.property(syncLatest(serverRecord), (message) => {
          const bytes = wrap(toBinary(SyncLatestResponseSchema, message));
          const fast = fastSyncLatestResponse(bytes);
          expect(fast).toBeDefined();
          expectSame(SyncLatestResponseSchema, fast!, fromBinary(SyncLatestResponseSchema, bytes));
          expectSame(SyncLatestResponseSchema, decodeSyncLatestResponse(bytes), fromBinary(SyncLatestResponseSchema, bytes));
        }),
        { numRuns: 400 },
      );
    });
  }

  it("equals fromBinary (or throws as it does) for messages with unknown fields, negative nanos and other oneof cases", () => {
    const options = fc.constant(create(SyncLatestResponseSchema, { response: { case: "options", value: { typeURL: "t", options: { indexableFields: ["a"] } } } }));
    fc.assert(
      fc.property(fc.oneof(syncLatest(oddRecord), options, fc.constant(create(SyncLatestResponseSchema))), (message) => {
        expectLikeFromBinary(SyncLatestResponseSchema, decodeSyncLatestResponse, Buffer.from(toBinary(SyncLatestResponseSchema, message)));
      }),
      { numRuns: 600 },
    );
  });

  it("equals fromBinary (or throws as it does) for mutated, truncated and unknown-field-appended encodings", () => {
    let fastTaken = 0;
    let fellBack = 0;
    fc.assert(
      fc.property(fc.oneof(syncLatest(serverRecord), syncLatest(oddRecord)), fc.array(mutation, { minLength: 1, maxLength: 3 }), (message, mutations) => {
        let bytes: Uint8Array = toBinary(SyncLatestResponseSchema, message);
        for (const m of mutations) bytes = m(bytes);
        const input = Buffer.from(bytes);
        if (fastSyncLatestResponse(input) === undefined) fellBack += 1;
        else fastTaken += 1;
        expectLikeFromBinary(SyncLatestResponseSchema, decodeSyncLatestResponse, input);
      }),
      { numRuns: 2000 },
    );
    // Both paths were exercised: mutations inside string or data bytes keep the shape.
    expect(fastTaken).toBeGreaterThan(20);
    expect(fellBack).toBeGreaterThan(20);
  });

  it("merges like fromBinary when encodings are concatenated (a second record or versions field)", () => {
    fc.assert(
      fc.property(syncLatest(serverRecord), syncLatest(serverRecord), (a, b) => {
        const bytes = Buffer.concat([toBinary(SyncLatestResponseSchema, a), toBinary(SyncLatestResponseSchema, b)]);
        expect(fastSyncLatestResponse(bytes)).toBeUndefined();
        expectLikeFromBinary(SyncLatestResponseSchema, decodeSyncLatestResponse, bytes);
      }),
      { numRuns: 300 },
    );
  });

  it("throws like fromBinary on invalid UTF-8 in a string field", () => {
    // Record{id: 0xff 0xfe} inside SyncLatestResponse.record.
    const bytes = new Uint8Array([0x0a, 0x04, 0x1a, 0x02, 0xff, 0xfe]);
    expect(() => fromBinary(SyncLatestResponseSchema, bytes)).toThrow();
    expect(fastSyncLatestResponse(bytes)).toBeUndefined();
    expectLikeFromBinary(SyncLatestResponseSchema, decodeSyncLatestResponse, bytes);
  });

  it("decodes demo sessions, encoded as the server sends them, on the fast path", () => {
    const demo = new DemoRecords({ seed: 7, nowMs: 1_900_000_000_000 });
    for (let i = 0; i < 50; i++) {
      const session = demo.session(`session-${i}`, i);
      const value = create(RecordSchema, {
        version: BigInt(1000 + i),
        type: SESSION_TYPE_URL,
        id: session.id,
        data: { typeUrl: SESSION_TYPE_URL, value: toBinary(SessionSchema, session) },
        modifiedAt: { seconds: 1_900_000_000n + BigInt(i), nanos: 123_456_789 },
      });
      const bytes = Buffer.from(toBinary(SyncLatestResponseSchema, create(SyncLatestResponseSchema, { response: { case: "record", value } })));
      const fast = fastSyncLatestResponse(bytes);
      expect(fast).toBeDefined();
      expectSame(SyncLatestResponseSchema, fast!, fromBinary(SyncLatestResponseSchema, bytes));
    }
  });
});

describe("decodeSyncResponse", () => {
  for (const [kind, wrap] of inputKinds) {
    it(`takes the fast path and equals fromBinary for generated messages (${kind} input)`, () => {
      fc.assert(
        fc.property(sync(serverRecord), (message) => {
          const bytes = wrap(toBinary(SyncResponseSchema, message));
          const fast = fastSyncResponse(bytes);
          expect(fast).toBeDefined();
          expectSame(SyncResponseSchema, fast!, fromBinary(SyncResponseSchema, bytes));
          expectSame(SyncResponseSchema, decodeSyncResponse(bytes), fromBinary(SyncResponseSchema, bytes));
        }),
        { numRuns: 300 },
      );
    });
  }

  it("equals fromBinary (or throws as it does) for odd, mutated and concatenated encodings and the options case", () => {
    const options = fc.constant(create(SyncResponseSchema, { response: { case: "options", value: { typeURL: "t" } } }));
    fc.assert(
      fc.property(fc.oneof(sync(oddRecord), options), fc.array(mutation, { maxLength: 2 }), fc.option(sync(serverRecord), { nil: undefined }), (message, mutations, second) => {
        let bytes: Uint8Array = toBinary(SyncResponseSchema, message);
        for (const m of mutations) bytes = m(bytes);
        if (second !== undefined) bytes = Buffer.concat([bytes, toBinary(SyncResponseSchema, second)]);
        expectLikeFromBinary(SyncResponseSchema, decodeSyncResponse, Buffer.from(bytes));
      }),
      { numRuns: 1500 },
    );
  });
});

describe("responseDecoderFor", () => {
  it("picks the fast decoders for SyncLatest and Sync only, fromBinary for other methods", () => {
    expect(responseDecoderFor(DataBrokerService.method.syncLatest)).toBe(decodeSyncLatestResponse);
    expect(responseDecoderFor(DataBrokerService.method.sync)).toBe(decodeSyncResponse);
    const get = responseDecoderFor(DataBrokerService.method.get);
    expect(get).not.toBe(decodeSyncLatestResponse);
    const value = create(RecordSchema, { id: "x", version: 3n });
    const bytes = toBinary(DataBrokerService.method.get.output, create(DataBrokerService.method.get.output, { record: value }));
    expect(get(bytes)).toStrictEqual(fromBinary(DataBrokerService.method.get.output, bytes));
  });
});
