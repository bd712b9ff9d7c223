/**
 * The fast PutRequest encoder against protobuf-es's toBinary, the definition of the right bytes:
 * for generated requests (any string, including lone surrogates; versions and timestamps across
 * their whole ranges, negative ones included; fields at their zero values; absent messages) the
 * bytes are identical; requests it does not take (unknown fields, values out of range) get
 * toBinary's bytes or toBinary's error.
 */
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DataBrokerService, PutRequestSchema, RecordSchema, type PutRequest } from "../../gen/databroker/databroker_pb.js";
import { DemoRecords } from "../../src/demo/demo-records.js";
import { encodePutRequest, requestEncoderFor } from "../../src/transport/put-request-encoder.js";

const text = fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ maxLength: 3 }), fc.constant(""), fc.string({ unit: "grapheme", maxLength: 200 }));
const uint64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
const int64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -5n, max: 2n ** 40n }));
const int32 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -3, max: 999_999_999 }));
const timestamp = fc.option(fc.record({ seconds: int64, nanos: int32 }).map((t) => create(TimestampSchema, t)), { nil: undefined });
const any = fc.option(
  fc.record({ typeUrl: text, value: fc.uint8Array({ maxLength: 300 }) }).map((a) => create(AnySchema, a)),
  { nil: undefined },
);
const record = fc.record({ version: uint64, type: text, id: text, data: any, modifiedAt: timestamp, deletedAt: timestamp }).map((r) => create(RecordSchema, r));
const request = fc.array(record, { maxLength: 6 }).map((records) => create(PutRequestSchema, { records }));

describe("PutRequest encoder", () => {
  it("writes exactly toBinary's bytes for any request", () => {
    fc.assert(
      fc.property(request, (r) => {
        expect(Buffer.from(encodePutRequest(r)).equals(Buffer.from(toBinary(PutRequestSchema, r)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("writes toBinary's bytes for real session records, and they read back as the request", () => {
    const demo = new DemoRecords({ seed: 7 });
    const records = Array.from({ length: 50 }, (_, i) => DemoRecords.record(demo.session(`s-${i}`, 0)));
    const r = create(PutRequestSchema, { records });
    const bytes = encodePutRequest(r);
    expect(Buffer.from(bytes).equals(Buffer.from(toBinary(PutRequestSchema, r)))).toBe(true);
    expect(equals(PutRequestSchema, fromBinary(PutRequestSchema, bytes), r)).toBe(true);
  });

  it("leaves a request with unknown fields, at any level, to toBinary, which keeps them", () => {
    fc.assert(
      fc.property(request.filter((r) => r.records.length > 0), fc.integer({ min: 0, max: 3 }), (r, level) => {
        const unknown = [{ no: 99, wireType: 0, data: new Uint8Array([0x05]) }];
        const first = r.records[0]!;
        if (level === 0) r.$unknown = unknown;
        if (level === 1) first.$unknown = unknown;
        if (level === 2) first.data = create(AnySchema, { typeUrl: "t", $unknown: unknown } as never);
        if (level === 3) first.deletedAt = create(TimestampSchema, { seconds: 1n, $unknown: unknown } as never);
        const bytes = encodePutRequest(r);
        expect(Buffer.from(bytes).equals(Buffer.from(toBinary(PutRequestSchema, r)))).toBe(true);
        expect(bytes.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it("fails as toBinary fails for values out of their field's range", () => {
    const cases: PutRequest[] = [
      create(PutRequestSchema, { records: [create(RecordSchema, { version: -1n })] }),
      create(PutRequestSchema, { records: [create(RecordSchema, { version: 2n ** 64n })] }),
      create(PutRequestSchema, { records: [create(RecordSchema, { deletedAt: create(TimestampSchema, { seconds: 2n ** 63n }) })] }),
      create(PutRequestSchema, { records: [create(RecordSchema, { modifiedAt: create(TimestampSchema, { nanos: 2 ** 31 }) })] }),
      create(PutRequestSchema, { records: [create(RecordSchema, { modifiedAt: create(TimestampSchema, { nanos: 0.5 }) })] }),
    ];
    for (const r of cases) {
      let expected: unknown;
      try {
        toBinary(PutRequestSchema, r);
      } catch (e) {
        expected = e;
      }
      expect(expected).toBeInstanceOf(Error);
      expect(() => encodePutRequest(r)).toThrow((expected as Error).message);
    }
  });

  it("is the encoder for Put only; every other method's request goes through toBinary", () => {
    expect(requestEncoderFor(DataBrokerService.method.put)).toBe(encodePutRequest);
    const get = requestEncoderFor(DataBrokerService.method.get);
    const message = create(DataBrokerService.method.get.input, { type: "t", id: "i" });
    expect(get(message)).toEqual(toBinary(DataBrokerService.method.get.input, message));
  });
});
