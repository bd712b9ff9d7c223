/**
 * Where protobuf-es v2 does not hold a field's value as a message of the field's type, in the
 * message objects it builds (fromBinary, create): the two rules the record decoder must
 * reproduce and the deep freeze must follow.
 */
import type { DescField } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";

/**
 * A google.protobuf.Struct field (singular, repeated, map value or oneof case) is held as a
 * JsonObject, except inside google.protobuf.Value, whose struct_value stays a Struct message.
 */
export function holdsStructAsJson(field: DescField): boolean {
  return field.message?.typeName === "google.protobuf.Struct" && field.parent.typeName !== "google.protobuf.Value";
}

/**
 * A singular wrapper field outside a oneof (google.protobuf.StringValue, BytesValue, ...) is
 * held as the bare value the wrapper carries; in a oneof, a list or a map it stays a message.
 */
export function holdsUnwrapped(field: DescField): boolean {
  return field.fieldKind === "message" && field.oneof === undefined && isWrapperDesc(field.message);
}
