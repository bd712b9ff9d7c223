/**
 * The replica's state, in the parts its rooms share. The façade (replica.ts) creates them once;
 * the change ingest (change-ingest.ts) and the snapshot build (snapshot-build.ts,
 * snapshot-finish.ts) work on them; the hot reads go to `tables` directly.
 */
import type { IndexCatalog } from "./index-catalog.js";
import type { PendingSnapshots } from "./pending-snapshots.js";
import type { RecordIntake } from "./record-intake.js";
import type { SlabAccounting } from "./slab-accounting.js";
import type { SyncScopes } from "./sync-scopes.js";
import type { TableMap } from "./table-map.js";

export interface ReplicaParts {
  /** The held tables by type: what every read answers from. */
  readonly tables: TableMap;
  /** The versions, floor and remembered deletions each held table is synced to. */
  readonly scopes: SyncScopes;
  /** The index definitions a table of each type is built with. */
  readonly indexes: IndexCatalog;
  /** What is kept of each incoming record. */
  readonly intake: RecordIntake;
  /** Where the records' bytes go, and their compaction. */
  readonly slabs: SlabAccounting;
  /** The snapshots being built on the side. */
  readonly pending: PendingSnapshots;
}
