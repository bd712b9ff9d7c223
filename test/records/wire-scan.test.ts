import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { describe, expect, it } from "vitest";
import { IDTokenSchema, SessionSchema } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { scanStringField } from "../../src/records/wire-scan.js";

describe("scanStringField", () => {
  it("reads Session.user_id (field 3) from a full session without decoding it", () => {
    const bytes = toBinary(
      SessionSchema,
      create(SessionSchema, {
        id: "s1",
        userId: "user-ü-1",
        idToken: create(IDTokenSchema, { raw: "x".repeat(900), subject: "not this" }),
        audience: ["a", "b"],
        refreshDisabled: true,
      }),
    );
    expect(scanStringField(bytes, 3)).toBe("user-ü-1");
    expect(scanStringField(bytes, 2)).toBe("s1");
  });

  it("reads User.email (field 4)", () => {
    const bytes = toBinary(UserSchema, create(UserSchema, { id: "u", name: "Ada", email: "ada@example.com" }));
    expect(scanStringField(bytes, 4)).toBe("ada@example.com");
  });

  it("returns undefined for an absent field and for malformed bytes", () => {
    expect(scanStringField(toBinary(UserSchema, create(UserSchema, { id: "u" })), 4)).toBeUndefined();
    expect(scanStringField(new Uint8Array([0x1a, 0x05, 0x61]), 3)).toBeUndefined(); // length past end
    expect(scanStringField(new Uint8Array([0x1f]), 3)).toBeUndefined(); // wire type 7
  });

  it("takes the last occurrence, as protobuf parsers do", () => {
    const w = new BinaryWriter();
    w.tag(3, WireType.LengthDelimited).string("first");
    w.tag(9, WireType.Varint).uint64(123456789012345n);
    w.tag(7, WireType.Bit64).fixed64(1n);
    w.tag(8, WireType.Bit32).fixed32(1);
    w.tag(3, WireType.LengthDelimited).string("second");
    expect(scanStringField(w.finish(), 3)).toBe("second");
  });

  it("skips groups", () => {
    const w = new BinaryWriter();
    w.tag(5, WireType.StartGroup);
    w.tag(3, WireType.LengthDelimited).string("inside group");
    w.tag(5, WireType.EndGroup);
    w.tag(3, WireType.LengthDelimited).string("top");
    expect(scanStringField(w.finish(), 3)).toBe("top");
  });
});
