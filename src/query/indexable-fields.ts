/**
 * Values of a type's `indexable_fields` for one record (Pomerium's storage.GetIndexableFields,
 * spec 7): dotted paths over protobuf field names, walking nested messages and maps; a missing
 * or unset field indexes as ""; if ANY listed field resolves to a non-string value the record
 * is not indexed at all (undefined).
 */
import type { DescField, Registry } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import type { Any } from "@bufbuild/protobuf/wkt";
import { knownDataRegistry, tryDecodeAnyData } from "./data-registry.js";

/** A value in Pomerium's generic map view of a message: a nested map, a string, or another leaf. */
type Node = { readonly kind: "map"; get(key: string): Node | undefined } | { readonly kind: "string"; readonly value: string } | { readonly kind: "other" };

/**
 * Field path -> indexed value, or undefined when the record cannot be indexed (undecodable data
 * or a non-string value at some path).
 */
export function indexableFieldValues(data: Any | undefined, fields: readonly string[], registry: Registry = knownDataRegistry): Map<string, string> | undefined {
  const decoded = tryDecodeAnyData(data, registry);
  if (decoded === undefined) return undefined;
  return indexableFieldValuesOfMessage(reflect(decoded.schema, decoded.message), fields);
}

/** Same as {@link indexableFieldValues} on an already decoded message. */
export function indexableFieldValuesOfMessage(message: ReflectMessage, fields: readonly string[]): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const field of fields) out.set(field, "");
  const root = messageNode(message);
  for (const field of fields) {
    const parts = field.split(".");
    let current: Node = root;
    for (let i = 0; i < parts.length; i++) {
      if (current.kind !== "map") break;
      const next = current.get(parts[i] as string);
      if (next === undefined) break;
      if (i === parts.length - 1) {
        if (next.kind !== "string") return undefined;
        out.set(field, next.value);
      } else {
        current = next;
      }
    }
  }
  return out;
}

function messageNode(message: ReflectMessage): Node {
  return {
    kind: "map",
    get(key: string): Node | undefined {
      // Only populated fields are present, as in Go's protoreflect Range.
      const field = message.fields.find((f) => f.name === key);
      if (field === undefined || !message.isSet(field)) return undefined;
      return fieldNode(message, field);
    },
  };
}

function fieldNode(message: ReflectMessage, field: DescField): Node {
  switch (field.fieldKind) {
    case "scalar": {
      const value: unknown = message.get(field);
      return typeof value === "string" ? { kind: "string", value } : { kind: "other" };
    }
    case "message":
      return messageNode(message.get(field));
    case "map": {
      const map = message.get(field);
      return {
        kind: "map",
        get(key: string): Node | undefined {
          for (const [k, v] of map) {
            if (String(k) !== key) continue;
            if (typeof v === "string") return { kind: "string", value: v };
            if (typeof v === "object" && v !== null && "fields" in v) return messageNode(v as ReflectMessage);
            return { kind: "other" };
          }
          return undefined;
        },
      };
    }
    default:
      // lists and enums are never strings
      return { kind: "other" };
  }
}

