/**
 * What the live status shows, sampled once per refresh: records per type, versions, lag,
 * change and lookup rates, reconnects and memory. Rates are per second since the last sample.
 */
import type { Subscription } from "rxjs";
import type { DatabrokerCache } from "../cache/databroker-cache.js";
import type { CacheState } from "../cache/cache-state.js";
import type { DemoWriter } from "./demo-writer.js";
import type { SessionReadLoop } from "./session-read-loop.js";

export interface TypeSample {
  readonly type: string;
  readonly records: number;
  readonly state: string;
  readonly recordVersion: bigint | undefined;
}

export interface StatusSample {
  readonly uptimeMs: number;
  readonly url: string | undefined;
  readonly serverVersion: bigint | undefined;
  readonly types: readonly TypeSample[];
  /** The newest record version the cache reflects (any type). */
  readonly cacheRecordVersion: bigint | undefined;
  /** The server's latest record version (ServerInfo), undefined when the call failed. */
  readonly serverRecordVersion: bigint | undefined;
  /** serverRecordVersion - cacheRecordVersion, floored at 0. */
  readonly lagVersions: bigint | undefined;
  /** Mean time from the server's write (modified_at) to the cache delivering it, over the period (clock skew applies to remote servers). */
  readonly lagMs: number | undefined;
  readonly changesPerSecond: number;
  readonly lookupsPerSecond: number;
  /** Share of lookups that found a valid session, 0..1 (undefined without lookups). */
  readonly hitRate: number | undefined;
  readonly writesPerSecond: number | undefined;
  readonly reconnects: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
}

export class StatusSampler {
  readonly #cache: DatabrokerCache;
  readonly #reads: SessionReadLoop | undefined;
  readonly #writer: DemoWriter | undefined;
  readonly #subscriptions: Subscription[] = [];
  readonly #startedAt = performance.now();
  #changes = 0;
  #lagSumMs = 0;
  #lagCount = 0;
  #reconnects = 0;
  #cacheVersion: bigint | undefined;
  #wasLive = new Map<string, boolean>();
  #last = { at: performance.now(), changes: 0, lookups: 0, hits: 0, writes: 0 };

  constructor(cache: DatabrokerCache, parts: { reads?: SessionReadLoop; writer?: DemoWriter } = {}) {
    this.#cache = cache;
    this.#reads = parts.reads;
    this.#writer = parts.writer;
    this.#subscriptions.push(
      cache.changes$().subscribe((change) => {
        if (change.kind === "overflow") return;
        if (this.#cacheVersion === undefined || change.recordVersion > this.#cacheVersion) this.#cacheVersion = change.recordVersion;
        if (change.kind === "snapshot") return;
        this.#changes += change.upserts.length + change.deletes.length;
        // Upserts carry the server's write time: the delay to here is the cache's lag in time.
        const now = Date.now();
        for (const record of change.upserts) {
          const at = record.modifiedAt;
          if (at === undefined) continue;
          this.#lagSumMs += now - (Number(at.seconds) * 1000 + at.nanos / 1e6);
          this.#lagCount++;
        }
      }),
      cache.state$.subscribe((state) => this.#countReconnects(state)),
    );
  }

  /** A stream that was live and is not any more (and not closed) is a reconnect. */
  #countReconnects(state: CacheState): void {
    for (const stream of state.streams) {
      const live = stream.state === "live";
      if (this.#wasLive.get(stream.type) === true && !live && stream.state !== "closed") this.#reconnects++;
      this.#wasLive.set(stream.type, live);
    }
  }

  async sample(): Promise<StatusSample> {
    let serverRecordVersion: bigint | undefined;
    let serverVersion: bigint | undefined;
    try {
      const info = await this.#cache.client.serverInfo({}, { timeoutMs: 2_000 });
      serverRecordVersion = info.latestRecordVersion;
      serverVersion = info.serverVersion;
    } catch {
      // Shown as "?": the status keeps running while the server is away.
    }
    const now = performance.now();
    const seconds = Math.max(0.001, (now - this.#last.at) / 1000);
    const lookups = this.#reads?.lookups ?? 0;
    const hits = this.#reads?.hits ?? 0;
    const counts = this.#writer?.counts;
    const writes = counts === undefined ? 0 : counts.signIns + counts.refreshes + counts.signOuts + counts.expiries;
    const state = this.#cache.state;
    const types = state.streams.map((s) => {
      const versions = s.type === "" ? undefined : this.#cache.query(s.type, { limit: 0 });
      return {
        type: s.type,
        records: s.type === "" ? 0 : this.#cache.size(s.type),
        state: s.state,
        recordVersion: versions?.recordVersion ?? s.recordVersion,
      };
    });
    let cacheRecordVersion = this.#cacheVersion;
    for (const t of types) if (t.recordVersion !== undefined && (cacheRecordVersion === undefined || t.recordVersion > cacheRecordVersion)) cacheRecordVersion = t.recordVersion;
    const lag = serverRecordVersion === undefined || cacheRecordVersion === undefined ? undefined : serverRecordVersion - cacheRecordVersion;
    const memory = process.memoryUsage();
    const sample: StatusSample = {
      uptimeMs: now - this.#startedAt,
      url: state.streams.find((s) => s.url !== undefined)?.url,
      serverVersion: serverVersion ?? state.streams.find((s) => s.serverVersion !== undefined)?.serverVersion,
      types,
      cacheRecordVersion,
      serverRecordVersion,
      lagVersions: lag === undefined ? undefined : lag < 0n ? 0n : lag,
      lagMs: this.#lagCount === 0 ? undefined : this.#lagSumMs / this.#lagCount,
      changesPerSecond: (this.#changes - this.#last.changes) / seconds,
      lookupsPerSecond: (lookups - this.#last.lookups) / seconds,
      hitRate: lookups === this.#last.lookups ? undefined : (hits - this.#last.hits) / (lookups - this.#last.lookups),
      writesPerSecond: counts === undefined ? undefined : (writes - this.#last.writes) / seconds,
      reconnects: this.#reconnects,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
    };
    this.#last = { at: now, changes: this.#changes, lookups, hits, writes };
    this.#lagSumMs = 0;
    this.#lagCount = 0;
    return sample;
  }

  close(): void {
    for (const s of this.#subscriptions) s.unsubscribe();
  }
}
