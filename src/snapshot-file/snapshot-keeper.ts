/**
 * A cache's snapshot file, over its life: the warm start (verify the file, load it into the
 * replica through its snapshot builder, hand back each stream's saved position), then a write
 * every `intervalMs` when something changed, and a last one on close, bounded in time.
 *
 * Lifecycle (one direction): "idle" -> "loading" -> "keeping" -> "closed". Writes happen only in
 * "keeping" (and the final one while closing), one at a time, and only once the cache says the
 * replica is current (`canWrite`): a loaded snapshot that never caught up is not written again
 * under a new date.
 */
import type { Options } from "../../gen/databroker/databroker_pb.js";
import type { Replica, ReplicaVersions, SnapshotBuilder, SnapshotCompletion } from "../replica/replica.js";
import { recordBytes } from "../replica/cached-record.js";
import { SNAPSHOT_SLICE_MS } from "../sync/snapshot-sink.js";
import type { SnapshotSection } from "./snapshot-body.js";
import { protoFingerprint, type SnapshotIdentity } from "./snapshot-header.js";
import { openSnapshotFile } from "./snapshot-reader.js";
import { SnapshotRejectedError, type SnapshotRejectionReason } from "./snapshot-rejection.js";
import { SnapshotWriteAbandonedError, writeSnapshotFile, type SnapshotItem, type SnapshotWriteResult } from "./snapshot-writer.js";
import type { ResolvedSnapshotOptions } from "./snapshot-options.js";

export interface SnapshotKeeperHooks {
  /** True when the replica is current enough to be saved (every type caught up with the server). */
  readonly canWrite: () => boolean;
  readonly onWritten?: (result: SnapshotWriteResult) => void;
  /** A write failed (not abandoned): a message without secrets. */
  readonly onWriteFailed?: (message: string) => void;
}

export type SnapshotLoad =
  | { readonly loaded: true; readonly positions: ReadonlyMap<string, ReplicaVersions>; readonly ageMs: number; readonly records: number }
  | { readonly loaded: false; readonly reason: SnapshotRejectionReason; readonly message: string };

type KeeperState = "idle" | "loading" | "keeping" | "closed";

export class SnapshotKeeper {
  #state: KeeperState = "idle";
  #changed = false;
  #timer: NodeJS.Timeout | undefined;
  #writing: { promise: Promise<void>; abort: AbortController } | undefined;
  readonly #loadAbort = new AbortController();
  readonly #unsubscribe: () => void;
  readonly identity: SnapshotIdentity;

  constructor(
    private readonly options: ResolvedSnapshotOptions,
    private readonly key: Uint8Array,
    projection: string,
    private readonly types: readonly string[],
    private readonly replica: Replica,
    private readonly hooks: SnapshotKeeperHooks,
  ) {
    this.identity = { protoFingerprint: protoFingerprint(), projection, types };
    this.#unsubscribe = replica.subscribe(() => {
      if (this.#state === "keeping") this.#changed = true;
    });
  }

  /**
   * Verifies the file and loads it into the replica (swapped in only once the whole file is
   * authenticated; `beforeSwap` runs right before, so listeners of the swap see where the streams
   * start). Never throws: a file that cannot be used says why.
   */
  async load(beforeSwap?: (positions: ReadonlyMap<string, ReplicaVersions>, ageMs: number) => void): Promise<SnapshotLoad> {
    if (this.#state !== "idle") throw new Error("snapshot keeper already loaded");
    this.#state = "loading";
    try {
      return await this.#load(beforeSwap);
    } catch (error) {
      if (error instanceof SnapshotRejectedError) return { loaded: false, reason: error.reason, message: error.message };
      // A bug or an I/O failure mid-read: still not fatal to the cache.
      return { loaded: false, reason: "unreadable", message: `snapshot could not be loaded (${error instanceof Error ? error.name : "error"})` };
    } finally {
      if (this.#state === "loading") this.#state = "keeping";
    }
  }

  async #load(beforeSwap: ((positions: ReadonlyMap<string, ReplicaVersions>, ageMs: number) => void) | undefined): Promise<SnapshotLoad> {
    const signal = this.#loadAbort.signal;
    const file = await openSnapshotFile({ path: this.options.path, key: this.key, identity: this.identity, maxAgeMs: this.options.maxAgeMs });
    const sections = new Map<string, { section: SnapshotSection; builder: SnapshotBuilder }>();
    let records = 0;
    try {
      let current: SnapshotBuilder | undefined;
      let ended = false;
      for await (const entry of file.entries()) {
        if (signal.aborted) throw new SnapshotRejectedError("unreadable", "snapshot load abandoned: the cache closed");
        switch (entry.kind) {
          case "section": {
            const { type } = entry.section;
            if (!this.types.includes(type) || sections.has(type)) throw new SnapshotRejectedError("tampered", "snapshot sections do not match its header");
            current = this.replica.beginSnapshot(type);
            sections.set(type, { section: entry.section, builder: current });
            break;
          }
          case "records":
            current?.add(entry.records);
            records += entry.records.length;
            break;
          case "sectionEnd":
            current = undefined;
            break;
          case "end":
            ended = true;
            break;
        }
      }
      if (!ended || sections.size !== this.types.length) throw new SnapshotRejectedError("tampered", "snapshot sections do not match its header");
      // Everything is authenticated: complete each type's tables in slices, then swap them all.
      const completions: SnapshotCompletion[] = [];
      for (const { section, builder } of sections.values()) {
        completions.push(builder.finishInSteps({ serverVersion: section.serverVersion, recordVersion: section.recordVersion }, section.options));
      }
      for (const completion of completions) {
        while (!completion.prepare(SNAPSHOT_SLICE_MS)) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (signal.aborted) throw new SnapshotRejectedError("unreadable", "snapshot load abandoned: the cache closed");
        }
      }
      const positions = new Map<string, ReplicaVersions>();
      for (const [type, { section }] of sections) positions.set(type, { serverVersion: section.serverVersion, recordVersion: section.recordVersion });
      beforeSwap?.(positions, file.ageMs);
      for (const completion of completions) completion.swap();
      return { loaded: true, positions, ageMs: file.ageMs, records };
    } catch (error) {
      for (const { builder } of sections.values()) builder.discard();
      throw error;
    } finally {
      await file.close().catch(() => undefined);
    }
  }

  /** Starts the periodic writes. */
  startWriting(): void {
    if (this.#state !== "keeping" || this.#timer !== undefined) return;
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.writeNow().finally(() => {
          if (this.#state === "keeping") tick();
        });
      }, this.options.intervalMs);
      this.#timer.unref();
    };
    tick();
  }

  /** Writes now when something changed and the replica is current; one write at a time. */
  writeNow(): Promise<void> {
    if (this.#writing !== undefined) return this.#writing.promise;
    if (!this.#changed || !this.hooks.canWrite()) return Promise.resolve();
    this.#changed = false;
    const abort = new AbortController();
    const promise = writeSnapshotFile(captureReplica(this.replica, this.types), {
      path: this.options.path,
      key: this.key,
      identity: this.identity,
      signal: abort.signal,
    }).then(
      (result) => this.hooks.onWritten?.(result),
      (error: unknown) => {
        this.#changed = true;
        if (error instanceof SnapshotWriteAbandonedError) return;
        this.hooks.onWriteFailed?.(`snapshot write failed (${(error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.name : "error")})`);
      },
    );
    const writing = { promise: promise.finally(() => {
      if (this.#writing === writing) this.#writing = undefined;
    }), abort };
    this.#writing = writing;
    return writing.promise;
  }

  /**
   * Abandons a load or a periodic write in progress, then writes once more if something changed,
   * abandoning that write after `closeWriteTimeoutMs`. Resolves when the file is settled. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#state === "closed") return;
    const wasKeeping = this.#state === "keeping";
    this.#state = "closed";
    clearTimeout(this.#timer);
    this.#loadAbort.abort();
    const running = this.#writing;
    if (running !== undefined) {
      running.abort.abort();
      await running.promise;
    }
    this.#unsubscribe();
    if (!wasKeeping) return;
    const final = this.writeNow();
    const writing = this.#writing;
    const timeout = setTimeout(() => writing?.abort.abort(), this.options.closeWriteTimeoutMs);
    try {
      await final;
    } finally {
      clearTimeout(timeout);
    }
  }
}

/**
 * The replica's content, pulled record by record over many event-loop turns. Each section is
 * saved at its resume point (server version, floor): every record is held as it was at that
 * point or later (records are immutable per version; one changed meanwhile is seen at its new
 * version or not at all), and a resumed Sync replays everything after the point, which the
 * replica applies by version, so the loaded copy converges to the server. A section whose
 * server version changed under the write (a resync to another server) abandons the write.
 */
export function* captureReplica(replica: Replica, types: readonly string[]): Generator<SnapshotItem, void, void> {
  for (const type of types) {
    const point = replica.resumePoint(type);
    if (point === undefined) throw new SnapshotWriteAbandonedError(`no snapshot of ${type} yet`);
    const tableTypes = type === "" ? replica.types() : [type];
    const options = new Map<string, Options>();
    for (const t of tableTypes) {
      const o = replica.options(t);
      if (o !== undefined) options.set(t, o);
    }
    yield { kind: "section", section: { type, serverVersion: point.serverVersion, recordVersion: point.recordVersion, options } };
    for (const t of tableTypes) {
      for (const record of replica.values(t)) {
        yield { kind: "record", record: { type: record.type, id: record.id, version: record.version, modifiedAt: record.modifiedAt, typeUrl: record.typeUrl, data: recordBytes(record) } };
      }
    }
    if (replica.resumePoint(type)?.serverVersion !== point.serverVersion) throw new SnapshotWriteAbandonedError("the server version changed during the write");
    yield { kind: "sectionEnd" };
  }
}
