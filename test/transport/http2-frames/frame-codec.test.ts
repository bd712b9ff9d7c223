import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeFrame, FrameReader, FrameType, Http2ProtocolError } from "../../../src/transport/http2-frames/frame-codec.js";

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

  it("with a piece handler, hands on a DATA frame split over chunks in pieces (views, in order, none empty), and every other frame whole", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(frameArb, frameArb.map((f) => ({ ...f, type: FrameType.DATA }))), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 40 }),
        (frames, cuts) => {
          const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.stream, f.payload)));
          const seen: Frame[] = [];
          /** The frame being received in pieces: what has come of it, and its length. */
          let pieces: { frame: Frame; parts: Buffer[]; filled: number; length: number } | undefined;
          const reader = new FrameReader(16_384, (flags, stream, piece, offset, length) => {
            expect(piece.length).toBeGreaterThan(0);
            if (offset === 0) {
              expect(pieces).toBeUndefined();
              pieces = { frame: { type: FrameType.DATA, flags, stream, payload: new Uint8Array() }, parts: [], filled: 0, length };
            }
            expect(pieces).toBeDefined();
            const p = pieces as NonNullable<typeof pieces>;
            expect([offset, length, flags, stream]).toEqual([p.filled, p.length, p.frame.flags, p.frame.stream]);
            p.parts.push(Buffer.from(piece));
            p.filled += piece.length;
            if (p.filled === length) {
              seen.push({ ...p.frame, payload: Uint8Array.from(Buffer.concat(p.parts)) });
              pieces = undefined;
            }
          });
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const n = cuts[i % cuts.length] as number;
            const chunk = bytes.subarray(at, at + n);
            reader.push(chunk, (type, flags, stream, payload) => {
              expect(pieces).toBeUndefined();
              seen.push({ type, flags, stream, payload: Uint8Array.from(payload) });
            });
            at += n;
          }
          expect(pieces).toBeUndefined();
          expect(seen).toEqual(frames.map((f) => ({ ...f, payload: Uint8Array.from(f.payload) })));
        },
      ),
    );
  });

  it("refuses a frame longer than the size it allows, from its header alone", () => {
    const reader = new FrameReader(16_384);
    const header = encodeFrame(0, 0, 1, new Uint8Array(16_385)).subarray(0, 9);
    expect(() => reader.push(header, () => undefined)).toThrow(Http2ProtocolError);
  });
});
