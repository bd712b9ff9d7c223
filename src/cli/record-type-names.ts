/** Short names the CLI accepts for record types: `session`, `user`, `service-account`. */
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";

const SHORT_NAMES: Readonly<Record<string, string>> = {
  session: SESSION_TYPE,
  user: USER_TYPE,
  "service-account": SERVICE_ACCOUNT_TYPE,
  serviceaccount: SERVICE_ACCOUNT_TYPE,
};

/** A short name's type URL; anything else is taken as a record type as is. */
export function recordTypeFromName(name: string): string {
  return SHORT_NAMES[name.toLowerCase()] ?? name;
}

/** `type.googleapis.com/session.Session` -> `session.Session`, for narrow status lines. */
export function shortTypeName(type: string): string {
  if (type === "") return "(all)";
  const slash = type.lastIndexOf("/");
  return slash < 0 ? type : type.slice(slash + 1);
}
