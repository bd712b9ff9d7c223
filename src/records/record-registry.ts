/**
 * The message types this SDK can decode from a record's Any: Pomerium's session and user
 * messages, the databroker messages and the well-known types (directory records hold Structs).
 * Records whose type URL is not here stay opaque bytes. Kept to the same list as the server's
 * (src/query/data-registry.ts) so "decodable" means the same on both sides; a test checks it.
 */
import { createRegistry, type DescMessage, type Registry } from "@bufbuild/protobuf";
import {
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
} from "@bufbuild/protobuf/wkt";
import { file_databroker_databroker } from "../../gen/databroker/databroker_pb.js";
import { file_session_session } from "../../gen/session/session_pb.js";
import { file_user_user } from "../../gen/user/user_pb.js";
import { messageNameFromTypeUrl } from "./type-urls.js";

export const recordRegistry: Registry = createRegistry(
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

/** The schema for a type URL, or undefined when the SDK does not know the message. */
export function schemaForTypeUrl(typeUrl: string, registry: Registry = recordRegistry): DescMessage | undefined {
  return registry.getMessage(messageNameFromTypeUrl(typeUrl));
}
