/**
 * The Query `query` string match (spec 6 step 3, Pomerium's storage.MatchAny): a record matches
 * when any populated string field of its decoded data contains the lowercased query,
 * case-insensitively, recursing into nested messages, repeated fields and map values (not keys).
 */
import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";

/**
 * True when a populated string field of `message` contains `lowercaseQuery`.
 * @param lowercaseQuery the query, already lowercased by the caller (as the server does once)
 */
export function messageMatchesQuery(schema: DescMessage, message: Message, lowercaseQuery: string): boolean {
  return matchMessage(reflect(schema, message), lowercaseQuery);
}

function matchMessage(msg: ReflectMessage, query: string): boolean {
  for (const field of msg.fields) {
    if (!msg.isSet(field)) continue;
    if (matchField(msg, field, query)) return true;
  }
  return false;
}

function matchField(msg: ReflectMessage, field: DescField, query: string): boolean {
  switch (field.fieldKind) {
    case "scalar":
      return typeof msg.get(field) === "string" && containsLower(msg.get(field) as string, query);
    case "enum":
      return false;
    case "message":
      return matchMessage(msg.get(field), query);
    case "list": {
      const list = msg.get(field);
      for (const item of list) {
        if (typeof item === "string" ? containsLower(item, query) : isReflectMessage(item) && matchMessage(item, query)) return true;
      }
      return false;
    }
    case "map": {
      // Pomerium's Go code would panic on a map with string values; we match them instead.
      const map = msg.get(field);
      for (const [, item] of map) {
        if (typeof item === "string" ? containsLower(item, query) : isReflectMessage(item) && matchMessage(item, query)) return true;
      }
      return false;
    }
  }
}

function containsLower(value: string, query: string): boolean {
  return value.toLowerCase().includes(query);
}

function isReflectMessage(value: unknown): value is ReflectMessage {
  return typeof value === "object" && value !== null && "fields" in value && "desc" in value;
}
