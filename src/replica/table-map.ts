/**
 * The replica's tables by type, shaped for the hot reads. Two costs of a plain Map it removes:
 * - the type strings of the tables come off the wire, so `get(SESSION_TYPE)` compared ~35
 *   characters on every read: keys are stored as internalised strings (the built-in types as the
 *   very constants callers pass), which V8 compares by pointer;
 * - getSession/getUser/getServiceAccount skip the type lookup: their tables are also in fields,
 *   kept in step by `set`/`delete`/`clear`.
 */
import { SERVICE_ACCOUNT_TYPE, SESSION_TYPE, USER_TYPE } from "../records/type-urls.js";
import type { TypeTable } from "./type-table.js";

export class TableMap extends Map<string, TypeTable> {
  sessions: TypeTable | undefined = undefined;
  users: TypeTable | undefined = undefined;
  serviceAccounts: TypeTable | undefined = undefined;

  /** Empty: entries passed to Map's constructor would be set before the fields exist. */
  constructor() {
    super();
  }

  override set(type: string, table: TypeTable): this {
    const key = internalized(type);
    super.set(key, table);
    this.#setField(key, table);
    return this;
  }

  override delete(type: string): boolean {
    this.#setField(type, undefined);
    return super.delete(type);
  }

  override clear(): void {
    this.sessions = this.users = this.serviceAccounts = undefined;
    super.clear();
  }

  #setField(type: string, table: TypeTable | undefined): void {
    if (type === SESSION_TYPE) this.sessions = table;
    else if (type === USER_TYPE) this.users = table;
    else if (type === SERVICE_ACCOUNT_TYPE) this.serviceAccounts = table;
  }
}

/** The same string, internalised (used as a property key, V8 keeps one shared copy). */
function internalized(type: string): string {
  if (type === SESSION_TYPE) return SESSION_TYPE;
  if (type === USER_TYPE) return USER_TYPE;
  if (type === SERVICE_ACCOUNT_TYPE) return SERVICE_ACCOUNT_TYPE;
  return Object.keys({ [type]: 0 })[0] ?? type;
}
