/**
 * Record types (spec 1.5). By convention a record's `type` is the type URL of its data, so these
 * constants serve both as `Record.type` values and as `Any.type_url` values.
 */

export const TYPE_URL_PREFIX = "type.googleapis.com/";

export const SESSION_TYPE = "type.googleapis.com/session.Session";
export const USER_TYPE = "type.googleapis.com/user.User";
export const SERVICE_ACCOUNT_TYPE = "type.googleapis.com/user.ServiceAccount";
export const SESSION_BINDING_REQUEST_TYPE = "type.googleapis.com/session.SessionBindingRequest";
export const SESSION_BINDING_TYPE = "type.googleapis.com/session.SessionBinding";
export const IDENTITY_BINDING_TYPE = "type.googleapis.com/session.IdentityBinding";

/** Directory records: the type is not a type URL; their data is a google.protobuf.Struct. */
export const DIRECTORY_USER_TYPE = "pomerium.io/DirectoryUser";
export const DIRECTORY_GROUP_TYPE = "pomerium.io/DirectoryGroup";

/** The full message name in a type URL (the part after the last "/"), as Any does it. */
export function messageNameFromTypeUrl(typeUrl: string): string {
  const slash = typeUrl.lastIndexOf("/");
  return slash < 0 ? typeUrl : typeUrl.slice(slash + 1);
}
