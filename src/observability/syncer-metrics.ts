/**
 * OpenTelemetry metrics through @opentelemetry/api only (the host brings the SDK, or nothing and
 * every instrument is a no-op). Names follow Pomerium's syncer (spec 10) so existing dashboards
 * keep working; the attribute is `record-type`: the type URL without its `type.googleapis.com/`
 * prefix, or "all" for the every-type stream.
 *
 * How our loop maps onto Pomerium's counters: `sync.total` counts each Sync stream opened and each
 * batch of changes received on it (Pomerium counts the call and every Recv); `sync.failures` a Sync
 * stream that ended in an error, abort or idle timeout; `sync_latest.*` the same for SyncLatest.
 * `update_records.*` covers applying records to the replica (snapshots, resyncs and changes).
 * Pomerium's `clear_records.*` has no counterpart: a resync swaps tables instead of clearing them.
 */
import { metrics, type Attributes, type Counter, type Gauge, type Histogram, type Meter, type MeterProvider } from "@opentelemetry/api";
import type { SyncStatus } from "../sync/sync-loop.js";
import { TYPE_URL_PREFIX } from "../records/type-urls.js";

export const METER_NAME = "databroker-cache";

/** Where the cache gets its meter: a Meter, a MeterProvider, or the global provider. */
export interface MetricsOptions {
  readonly meter?: Meter;
  readonly meterProvider?: MeterProvider;
}

/** Pomerium's `databroker.syncer.active` values. */
const ACTIVE_INACTIVE = 0;
const ACTIVE_SYNC = 1;
const ACTIVE_SYNC_LATEST = 2;

export function recordTypeAttribute(type: string): string {
  if (type === "") return "all";
  return type.startsWith(TYPE_URL_PREFIX) ? type.slice(TYPE_URL_PREFIX.length) : type;
}

export class SyncerMetrics {
  readonly #active: Gauge;
  readonly #serverVersion: Gauge;
  readonly #latestRecordVersion: Gauge;
  readonly #syncTotal: Counter;
  readonly #syncFailures: Counter;
  readonly #syncLatestTotal: Counter;
  readonly #syncLatestFailures: Counter;
  readonly #updateTotal: Counter;
  readonly #updateDuration: Histogram;
  readonly #overflows: Counter;
  readonly #malformed: Counter;
  readonly #snapshotLoads: Counter;
  readonly #snapshotRejections: Counter;
  readonly #snapshotWriteDuration: Histogram;
  readonly #attributes = new Map<string, Attributes>();

  constructor(options: MetricsOptions) {
    const meter = options.meter ?? (options.meterProvider ?? metrics).getMeter(METER_NAME);
    this.#active = meter.createGauge("databroker.syncer.active", {
      description: "Which stream the syncer has open: 0 none, 1 Sync, 2 SyncLatest",
    });
    this.#serverVersion = meter.createGauge("databroker.syncer.server_version", {
      description: "The databroker server version the syncer follows",
    });
    this.#latestRecordVersion = meter.createGauge("databroker.syncer.latest_record_version", {
      description: "The newest record version the syncer has applied",
    });
    this.#syncTotal = meter.createCounter("databroker.syncer.sync.total", { description: "Sync calls and change batches received" });
    this.#syncFailures = meter.createCounter("databroker.syncer.sync.failures", { description: "Sync streams that failed" });
    this.#syncLatestTotal = meter.createCounter("databroker.syncer.sync_latest.total", { description: "SyncLatest calls" });
    this.#syncLatestFailures = meter.createCounter("databroker.syncer.sync_latest.failures", { description: "SyncLatest calls that failed" });
    this.#updateTotal = meter.createCounter("databroker.syncer.update_records.total", { description: "Records applied to the local replica" });
    this.#updateDuration = meter.createHistogram("databroker.syncer.update_records.duration", {
      description: "Time to apply a batch of records to the local replica",
      unit: "s",
    });
    this.#overflows = meter.createCounter("databroker.cache.subscriber_overflows", {
      description: "Change subscribers whose bounded buffer overflowed (batches were dropped for them)",
    });
    this.#malformed = meter.createCounter("databroker.cache.malformed_records", {
      description: "Records skipped because their data does not parse as their type",
    });
    this.#snapshotLoads = meter.createCounter("databroker.cache.snapshot.loads", { description: "Warm starts from the snapshot file" });
    this.#snapshotRejections = meter.createCounter("databroker.cache.snapshot.rejections", {
      description: "Snapshot files not used, by reason (format, mismatch, expired, key, tampered, truncated, unreadable, aborted)",
    });
    this.#snapshotWriteDuration = meter.createHistogram("databroker.cache.snapshot.write.duration", { description: "Time to write the snapshot file", unit: "s" });
  }

  #attrs(type: string): Attributes {
    let a = this.#attributes.get(type);
    if (a === undefined) this.#attributes.set(type, (a = Object.freeze({ "record-type": recordTypeAttribute(type) })));
    return a;
  }

  /** Called with each status of a type's loop and the one before it. */
  status(type: string, previous: SyncStatus | undefined, next: SyncStatus): void {
    const attrs = this.#attrs(type);
    const was = previous?.state;
    if (was !== next.state) {
      this.#active.record(next.state === "live" ? ACTIVE_SYNC : next.state === "snapshotting" ? ACTIVE_SYNC_LATEST : ACTIVE_INACTIVE, attrs);
      if (next.state === "snapshotting") this.#syncLatestTotal.add(1, attrs);
      if (next.state === "live") this.#syncTotal.add(1, attrs);
      if (next.state === "backing-off" && was === "snapshotting") this.#syncLatestFailures.add(1, attrs);
      if (next.state === "backing-off" && was === "live") this.#syncFailures.add(1, attrs);
    } else if (next.state === "live" && next.lastMessageAt !== previous?.lastMessageAt) {
      this.#syncTotal.add(1, attrs);
    }
    if (next.serverVersion !== undefined && next.serverVersion !== previous?.serverVersion) {
      this.#serverVersion.record(Number(next.serverVersion), attrs);
    }
    // The loop's position goes back when a live stream re-reads a window behind it (its periodic
    // refresh): the gauge shows the newest version reached, so it only moves forward within a
    // server version.
    const sameServer = previous !== undefined && next.serverVersion === previous.serverVersion;
    if (sameServer ? next.recordVersion > previous.recordVersion : next.recordVersion !== previous?.recordVersion) {
      this.#latestRecordVersion.record(Number(next.recordVersion), attrs);
    }
  }

  /** Records applied to the replica for one type, and how long applying the whole event took. */
  updated(type: string, recordCount: number, durationSeconds: number): void {
    const attrs = this.#attrs(type);
    this.#updateTotal.add(recordCount, attrs);
    this.#updateDuration.record(durationSeconds, attrs);
  }

  overflowed(type: string | undefined): void {
    this.#overflows.add(1, this.#attrs(type ?? ""));
  }

  malformed(type: string): void {
    this.#malformed.add(1, this.#attrs(type));
  }

  snapshotLoaded(): void {
    this.#snapshotLoads.add(1);
  }

  snapshotRejected(reason: string): void {
    this.#snapshotRejections.add(1, { reason });
  }

  snapshotWritten(durationSeconds: number): void {
    this.#snapshotWriteDuration.record(durationSeconds);
  }
}
