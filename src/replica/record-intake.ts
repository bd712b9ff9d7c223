/**
 * What the replica keeps of each incoming record (a change's or a snapshot's), before it is
 * stored: the data bytes, checked and projected, and one shared string for its type URL.
 *
 * Invariants:
 * - a record whose data does not parse as its (known) message type is not kept, nor one whose
 *   `projectData` throws: each such record is counted and reported once (a replayed change is
 *   checked without being reported again);
 * - a throwing `onMalformedRecord` hook goes to the error hook and never stops ingest;
 * - the type URL strings shared by the held records are bounded (256 distinct), so odd data
 *   cannot grow the table without limit.
 */
import { isMalformedRecordData } from "../records/malformed-data.js";
import type { RawRecord } from "./replica-events.js";

/**
 * A record whose data bytes do not parse as its (known) message type. It is not held: a
 * malformed update removes the version held before, since the server's current record is not
 * usable. Deliberately no id and no bytes: it is meant for logs, and the record version alone
 * identifies the record on the server.
 */
export interface MalformedRecord {
  readonly type: string;
  readonly typeUrl: string;
  readonly version: bigint;
  readonly dataLength: number;
}

/** The hooks of `ReplicaOptions` the intake calls. */
export interface RecordIntakeHooks {
  readonly onMalformedRecord: ((record: MalformedRecord) => void) | undefined;
  readonly projectData: ((typeUrl: string, data: Uint8Array) => Uint8Array) | undefined;
  /** Where a throwing `onMalformedRecord` goes. */
  readonly onListenerError: (error: unknown) => void;
}

export class RecordIntake {
  readonly #typeUrls = new Map<string, string>();
  #lastTypeUrl = "";
  readonly #onListenerError: (error: unknown) => void;
  readonly #onMalformedRecord: ((record: MalformedRecord) => void) | undefined;
  readonly #projectData: ((typeUrl: string, data: Uint8Array) => Uint8Array) | undefined;
  #malformedRecords = 0;

  constructor(hooks: RecordIntakeHooks) {
    this.#onMalformedRecord = hooks.onMalformedRecord;
    this.#projectData = hooks.projectData;
    this.#onListenerError = hooks.onListenerError;
  }

  /** How many records were skipped as malformed (snapshots and changes). */
  get malformedRecords(): number {
    return this.#malformedRecords;
  }

  /**
   * One string per type URL for all records: each decoded message carries its own copy (~50 B
   * kept per record otherwise). Bounded, so odd data cannot grow it without limit.
   */
  typeUrl(url: string): string {
    if (url === this.#lastTypeUrl) return this.#lastTypeUrl;
    let canonical = this.#typeUrls.get(url);
    if (canonical === undefined) {
      canonical = url;
      if (this.#typeUrls.size < 256) this.#typeUrls.set(url, url);
    }
    this.#lastTypeUrl = canonical;
    return canonical;
  }

  /**
   * The bytes to keep for a live record: its data, through `projectData` when set; undefined
   * when malformed (or the projection throws), which is counted and reported.
   */
  keptData(raw: RawRecord, report = true): Uint8Array | undefined {
    if (isMalformedRecordData(raw.typeUrl, raw.data)) {
      if (report) this.#reportMalformed(raw);
      return undefined;
    }
    if (this.#projectData === undefined) return raw.data;
    try {
      return this.#projectData(raw.typeUrl, raw.data);
    } catch {
      if (report) this.#reportMalformed(raw);
      return undefined;
    }
  }

  /** Counts and reports a malformed record. */
  #reportMalformed(raw: RawRecord): void {
    this.#malformedRecords++;
    if (this.#onMalformedRecord !== undefined) {
      try {
        this.#onMalformedRecord({ type: raw.type, typeUrl: raw.typeUrl, version: raw.version, dataLength: raw.data.length });
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
