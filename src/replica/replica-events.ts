/**
 * What the sync loop feeds the replica. The replica has no network: these plain, typed events are
 * its whole input, so it can be tested with hand-written sequences.
 */
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { Options } from "../../gen/databroker/databroker_pb.js";

/**
 * One record as received, flattened from databroker.Record.
 *
 * Why not the generated Record: the replica keeps every record for a long time, and a decoded
 * Record holds an Any message whose `value` is a view into the network buffer (protobuf-es reads
 * bytes fields with subarray), pinning the whole chunk. The replica copies the `data` of each
 * record it keeps into its own slabs (byte-slab.ts) and keeps nothing else of this object, so
 * `data` may be a view into a network buffer: {@link rawRecordView} builds one without a copy,
 * {@link rawRecordFromRecord} with a copy (for bytes kept outside the replica).
 */
export interface RawRecord {
  /** The record type (by convention the type URL of the data). */
  readonly type: string;
  readonly id: string;
  readonly version: bigint;
  readonly modifiedAt?: Timestamp | undefined;
  /** Set on tombstones (Sync only). */
  readonly deletedAt?: Timestamp | undefined;
  /** The Any's type URL ("" when the record had no data). */
  readonly typeUrl: string;
  /** The Any's value bytes; may be a view into a network buffer (the replica copies what it keeps). */
  readonly data: Uint8Array;
}

/**
 * A complete SyncLatest: the first load, or a resync (the replica tells them apart by whether it
 * already holds a snapshot for the type).
 */
export interface SnapshotEvent {
  readonly kind: "snapshot";
  /**
   * The type the SyncLatest asked for; "" means every type. The snapshot replaces exactly the
   * types it covers: for "", every type the replica holds (types absent from `records` are empty).
   */
  readonly type: string;
  readonly serverVersion: bigint;
  /** latest_record_version from the final Versions message. */
  readonly recordVersion: bigint;
  readonly records: readonly RawRecord[];
  /** Options per type as sent on the stream; a covered type without an entry has no options. */
  readonly options: ReadonlyMap<string, Options>;
}

/**
 * Changes from Sync, in ascending version order; may include tombstones. A stream that resumes
 * or re-reads from an older position replays changes already applied: the replica recognises
 * them by version (see Replica), so replays are harmless.
 */
export interface ChangeEvent {
  readonly kind: "change";
  readonly serverVersion: bigint;
  readonly records: readonly RawRecord[];
}

/** The TypedOptions a Sync stream sends at its start. */
export interface OptionsEvent {
  readonly kind: "options";
  readonly type: string;
  readonly options: Options;
}

/**
 * The sync loop will never again replay changes at or below `recordVersion` for this scope (it is
 * about to re-read from there, or has moved past it): the replica may forget the deletions it
 * remembers up to it. Ignored when the server version differs from the held one; never raises
 * the floor above the held position.
 */
export interface FloorEvent {
  readonly kind: "floor";
  /** The scope's type ("" for an all-types stream). */
  readonly type: string;
  readonly serverVersion: bigint;
  readonly recordVersion: bigint;
}

export type ReplicaEvent = SnapshotEvent | ChangeEvent | OptionsEvent | FloorEvent;
