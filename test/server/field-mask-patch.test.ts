import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { SessionSchema, type Session } from "../../gen/session/session_pb.js";
import { UserSchema } from "../../gen/user/user_pb.js";
import { FieldMaskError, overwriteMasked } from "../../src/server/storage/field-mask-patch.js";

const patch = (dst: Session, src: Session, paths: string[]) => overwriteMasked(SessionSchema, dst, SessionSchema, src, paths) as Session;

describe("overwriteMasked (Pomerium's protoutil.OverwriteMasked)", () => {
  const stored = create(SessionSchema, {
    id: "s",
    userId: "old-user",
    audience: ["a", "b"],
    idToken: { issuer: "old-iss", subject: "old-sub" },
    oauthToken: { accessToken: "tok" },
  });

  it("replaces lists wholesale and clears fields the source lacks", () => {
    const out = patch(stored, create(SessionSchema, { audience: ["c"] }), ["audience", "user_id"]);
    expect(out.audience).toEqual(["c"]);
    expect(out.userId).toBe("");
    expect(out.id).toBe("s");
  });

  it("walks singular message fields with dotted paths", () => {
    const out = patch(stored, create(SessionSchema, { idToken: { issuer: "new-iss", subject: "ignored" } }), ["id_token.issuer"]);
    expect(out.idToken).toMatchObject({ issuer: "new-iss", subject: "old-sub" });
  });

  it("creates the nested message when only the source has it", () => {
    const bare = create(SessionSchema, { id: "s" });
    const out = patch(bare, create(SessionSchema, { idToken: { issuer: "i" } }), ["id_token.issuer"]);
    expect(out.idToken?.issuer).toBe("i");
  });

  it("lets a shorter path win over a longer one", () => {
    const out = patch(stored, create(SessionSchema, { idToken: { issuer: "x" } }), ["id_token.subject", "id_token"]);
    expect(out.idToken).toMatchObject({ issuer: "x", subject: "" });
  });

  it("clears a whole message field the source lacks", () => {
    const out = patch(stored, create(SessionSchema, { expiresAt: timestampFromMs(1000) }), ["oauth_token", "expires_at"]);
    expect(out.oauthToken).toBeUndefined();
    expect(out.expiresAt?.seconds).toBe(1n);
  });

  it("does not modify its inputs", () => {
    patch(stored, create(SessionSchema), ["user_id", "id_token.issuer"]);
    expect(stored.userId).toBe("old-user");
    expect(stored.idToken?.issuer).toBe("old-iss");
  });

  it("rejects unknown fields, sub-fields of non-messages, camelCase names and mismatched types", () => {
    expect(() => patch(stored, stored, ["nope"])).toThrow(new FieldMaskError('cannot overwrite unknown field "nope" in message session.Session'));
    expect(() => patch(stored, stored, ["userId"])).toThrow(/unknown field "userId"/);
    expect(() => patch(stored, stored, ["audience.x"])).toThrow(new FieldMaskError('cannot overwrite sub-fields of field "audience" in message session.Session'));
    expect(() => patch(stored, stored, ["claims.x"])).toThrow(/cannot overwrite sub-fields of field "claims"/);
    expect(() => patch(stored, stored, [""])).toThrow(/unknown field ""/);
    expect(() => overwriteMasked(SessionSchema, stored, UserSchema, create(UserSchema), [])).toThrow(new FieldMaskError("descriptor mismatch: session.Session, user.User"));
  });
});
