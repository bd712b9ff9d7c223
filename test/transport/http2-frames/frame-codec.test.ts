import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameReader, Http2ProtocolError } from "../../../src/transport/http2-frames/frame-codec.js";

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  flags: fc.integer({ min: 0, max: 255 }),
  stream: fc.integer({ min: 0, max: 0x7fffffff }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

describe("FrameReader", () => {
  it("hands on every frame whole and in order, however the bytes are split into chunks", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 40 }), (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.stream, f.payload)));
        const reader = new FrameReader(16_384);
        const seen: Frame[] = [];
        let at = 0;
        for (let i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length] as number;
          reader.push(bytes.subarray(at, at + n), (type, flags, stream, payload) => seen.push({ type, flags, stream, payload: Uint8Array.from(payload) }));
          at += n;
        }
        expect(seen).toEqual(frames.map((f) => ({ ...f, payload: Uint8Array.from(f.payload) })));
      }),
    );
  });

  it("refuses a frame longer than the size it allows, from its header alone", () => {
    const reader = new FrameReader(16_384);
    const header = encodeFrame(0, 0, 1, new Uint8Array(16_385)).subarray(0, 9);
    expect(() => reader.push(header, () => undefined)).toThrow(Http2ProtocolError);
  });
});
