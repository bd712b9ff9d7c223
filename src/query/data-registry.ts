/**
 * The message types whose record data the server can decode (for free-text query, indexable
 * fields, `$index` CIDRs and Patch): our generated session/user/databroker types plus the
 * protobuf well-known types (google.protobuf.Struct among them). Pomerium's registry holds
 * more (its whole binary); records of other types are treated as opaque, as Pomerium treats
 * types it does not know.
 */
import type { DescMessage, Message, Registry } from "@bufbuild/protobuf";
import { anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { recordRegistry } from "../records/record-registry.js";

/** Registry of every type the server decodes: the SDK's one list (src/records/record-registry.ts). */
export const knownDataRegistry: Registry = recordRegistry;

/** A decoded Any: its message and schema. */
export interface DecodedData {
  readonly schema: DescMessage;
  readonly message: Message;
}

/** Why data could not be decoded; the text follows Go's anypb.UnmarshalNew errors. */
export class DataDecodeError extends Error {
  override readonly name = "DataDecodeError";
}

/**
 * Decodes record data, throwing {@link DataDecodeError} for absent data, an unknown type or bytes
 * that do not parse.
 */
export function decodeAnyData(data: Any | undefined, registry: Registry = knownDataRegistry): DecodedData {
  if (data === undefined || data.typeUrl === "") throw new DataDecodeError("proto: invalid empty type URL");
  const name = data.typeUrl.slice(data.typeUrl.lastIndexOf("/") + 1);
  const schema = registry.getMessage(name);
  if (schema === undefined) throw new DataDecodeError("proto: not found");
  let message: Message | undefined;
  try {
    message = anyUnpack(data, registry);
  } catch {
    // protobuf-es words it differently; Go reports just this
    throw new DataDecodeError("proto: cannot parse invalid wire-format data");
  }
  if (message === undefined) throw new DataDecodeError("proto: not found");
  return { schema, message };
}

/** Like {@link decodeAnyData} but undefined instead of an error. */
export function tryDecodeAnyData(data: Any | undefined, registry: Registry = knownDataRegistry): DecodedData | undefined {
  try {
    return decodeAnyData(data, registry);
  } catch {
    return undefined;
  }
}
