/** Random Query filters for differential tests: `leaf` terms nested under $and / $or arrays. */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";

export function filterOf(leaf: fc.Arbitrary<JsonObject>): fc.Arbitrary<JsonObject> {
  return fc.letrec<{ node: JsonObject }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((xs) => ({ $and: xs as JsonValue[] })),
      fc.array(tie("node"), { minLength: 1, maxLength: 3 }).map((xs) => ({ $or: xs as JsonValue[] })),
    ),
  })).node;
}
