/**
 * The message types whose record data the server can decode (for free-text query, indexable
 * fields, `$index` CIDRs and Patch): our generated session/user/databroker types plus the
 * protobuf well-known types (google.protobuf.Struct among them). Pomerium's registry holds
 * more (its whole binary); records of other types are treated as opaque, as Pomerium treats
 * types it does not know.
 */
import { createRegistry, type DescMessage, type Message, type Registry } from "@bufbuild/protobuf";
import {
  anyUnpack,
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
  type Any,
} from "@bufbuild/protobuf/wkt";
import { file_databroker_databroker } from "../../gen/databroker/databroker_pb.js";
import { file_session_session } from "../../gen/session/session_pb.js";
import { file_user_user } from "../../gen/user/user_pb.js";

/** Registry of every type the server decodes. */
export const knownDataRegistry: Registry = createRegistry(
  file_google_protobuf_any,
  file_google_protobuf_api,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_source_context,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_type,
  file_google_protobuf_wrappers,
  file_databroker_databroker,
  file_session_session,
  file_user_user,
);

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
