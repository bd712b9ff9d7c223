/**
 * What the databroker contract suite needs to know about the server it judges.
 *
 * A target is any databroker reachable over gRPC (h2c on loopback in our tests): our in-memory
 * server, or Pomerium's own on memory, file or Postgres storage (interop/pomerium).
 */

/** Storage flavour, for the few behaviours where Pomerium's backends legitimately differ. */
export type StorageFlavour = "memory" | "file" | "postgres";

export interface ConformanceTarget {
  /** Human-readable name shown in test titles, e.g. "ours", "pomerium-memory". */
  readonly name: string;
  /** Base URL, e.g. "http://127.0.0.1:41234". */
  readonly url: string;
  /** The shared secret (base64 of 32 bytes) the server checks JWTs with. */
  readonly sharedSecret: string;
  /** "memory" for our server and for Pomerium memory storage. */
  readonly flavour: StorageFlavour;
  /** True for our in-memory server (lets the suite list the deviations we chose on purpose). */
  readonly isOurs: boolean;
  /**
   * Puts the server back to a known state: no records, no change history, default options.
   * Called before each test that depends on contents. May restart the server, in which case the
   * url stays the same and the server version changes.
   */
  reset(): Promise<void>;
  /**
   * Compacts the change log now: drops every change except the newest, as the periodic cleaner
   * does once changes are older than the retention. Moves earliest_record_version.
   */
  compact(): Promise<void>;
  /**
   * Optional: the Pomerium module version a Pomerium target runs (e.g. "v0.32.9"); undefined for
   * ours. Lets the suite accept what an older release legitimately lacks (v0.32 sets no ttl and
   * no oauth21 defaults).
   */
  readonly pomeriumVersion?: string;
  /**
   * Optional: runs one pass of the periodic cleaner now (change-log retention as configured, then
   * record TTLs from the types' options), as Pomerium does every minute. Targets without it skip
   * the TTL contract, whose one-minute granularity is too slow to wait for.
   */
  cleanup?(): Promise<void>;
  /** Stops the server for good (after the suite). */
  close(): Promise<void>;
}
