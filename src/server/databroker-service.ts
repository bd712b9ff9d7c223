/**
 * databroker.DataBrokerService over the storage engine: request/response shaping, stream
 * lifecycles, and errors as ConnectError with the real server's codes and messages.
 */
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import {
  DataBrokerService,
  TypedOptionsSchema,
  type SyncLatestResponseSchema,
  type SyncResponseSchema,
  type TypedOptions,
} from "../../gen/databroker/databroker_pb.js";
import { withGrpcStatus } from "./grpc-status.js";
import { executeQuery } from "./query-execution.js";
import type { DatabrokerStorage } from "./storage/databroker-storage.js";
import { StreamSignals, type StreamEnd } from "./stream-signals.js";

/** How many changes a Sync reads from the log at a time. */
const SYNC_BATCH = 256;

export interface DatabrokerServiceDeps {
  readonly storage: DatabrokerStorage;
  /** Every open stream, so shutdown can end them. */
  readonly streams: Set<StreamSignals>;
}

export function createDatabrokerService({ storage, streams }: DatabrokerServiceDeps): ServiceImpl<typeof DataBrokerService> {
  /** Options messages for a type ("" = every type with live records), in type order. */
  const typedOptions = (type: string): TypedOptions[] => {
    const types = type === "" ? storage.listTypes() : [type];
    const out: TypedOptions[] = [];
    for (const t of types) {
      const stored = storage.getOptions(t);
      if (stored !== undefined) out.push(create(TypedOptionsSchema, { typeURL: t, options: stored.options }));
    }
    return out;
  };

  return {
    acquireLease(req) {
      const id = randomUUID();
      if (!storage.lease(req.name, id, durationMs(req.duration))) throw new ConnectError("lease is already taken", Code.AlreadyExists);
      return { id };
    },

    releaseLease(req) {
      storage.releaseLease(req.name, req.id);
      return {};
    },

    renewLease(req) {
      if (!storage.lease(req.name, req.id, durationMs(req.duration))) throw new ConnectError("lease no longer held", Code.AlreadyExists);
      return {};
    },

    clear() {
      return storage.clear();
    },

    get(req) {
      const record = storage.get(req.type, req.id);
      if (record === undefined) throw new ConnectError("record not found", Code.NotFound);
      return { record };
    },

    listTypes() {
      return { types: storage.listTypes() };
    },

    query(req) {
      return withGrpcStatus(() =>
        executeQuery(storage, { type: req.type, query: req.query, offset: req.offset, limit: req.limit, filter: req.filter }),
      );
    },

    put(req) {
      return storage.put(req.records);
    },

    patch(req) {
      return withGrpcStatus(() => storage.patch(req.records, req.fieldMask?.paths ?? []));
    },

    serverInfo() {
      return storage.versions();
    },

    getOptions(req) {
      if (req.type === "") throw new ConnectError("options req type is empty", Code.InvalidArgument);
      const stored = storage.getOptions(req.type);
      if (stored === undefined) throw new ConnectError("no such options for databroker record", Code.NotFound);
      return { options: stored.options };
    },

    setOptions(req) {
      storage.setOptions(req.type, req.options);
      const stored = storage.getOptions(req.type);
      // Empty options delete the type's options, and the re-read then finds none (spec 7).
      if (stored === undefined) throw new ConnectError("no such options for databroker record", Code.NotFound);
      return { options: stored.options };
    },

    async *syncLatest(req, ctx) {
      using signals = new StreamSignals(storage, ctx.signal, streams);
      // One synchronous snapshot: versions, records, options, all consistent with each other.
      const versions = storage.versions();
      const records = storage.listRecords(req.type);
      const options = typedOptions(req.type);
      for (const record of records) {
        yield { response: { case: "record", value: record } } satisfies MessageInitShape<typeof SyncLatestResponseSchema>;
        // Pomerium checks for cancellation (Clear, client gone) after each record it sends.
        endIfNeeded(signals.ended);
      }
      for (const value of options) yield { response: { case: "options", value } } satisfies MessageInitShape<typeof SyncLatestResponseSchema>;
      yield {
        response: { case: "versions", value: { serverVersion: versions.serverVersion, latestRecordVersion: versions.latestRecordVersion } },
      } satisfies MessageInitShape<typeof SyncLatestResponseSchema>;
    },

    async *sync(req, ctx) {
      using signals = new StreamSignals(storage, ctx.signal, streams);
      const start = storage.checkSyncStart(req.serverVersion, req.recordVersion);
      if (start !== "ok") throw new ConnectError(start, Code.Aborted);
      const wait = req.wait ?? true;
      for (const value of typedOptions(req.type)) yield { response: { case: "options", value } } satisfies MessageInitShape<typeof SyncResponseSchema>;
      let after = req.recordVersion;
      for (;;) {
        endIfNeeded(signals.ended);
        const { records: batch, scannedThrough } = storage.scanChangesAfter(req.type, after, SYNC_BATCH);
        for (const record of batch) {
          yield { response: { case: "record", value: record } } satisfies MessageInitShape<typeof SyncResponseSchema>;
          endIfNeeded(signals.ended);
        }
        // Past other types' changes too: they are never rescanned on later wake-ups.
        if (scannedThrough > after) after = scannedThrough;
        if (batch.length > 0) continue;
        if (!wait) return;
        await signals.nextChange();
      }
    },
  };
}

function endIfNeeded(ended: StreamEnd | undefined): void {
  switch (ended) {
    case undefined:
      return;
    case "cleared":
      // Pomerium cancels its iterators' context; grpc-go reports a bare context error as CANCELLED.
      throw new ConnectError("context canceled", Code.Canceled);
    case "shutdown":
      throw new ConnectError("databroker is shutting down", Code.Unavailable);
    case "aborted":
      throw new ConnectError("context canceled", Code.Canceled);
  }
}

function durationMs(d: Duration | undefined): number {
  if (d === undefined) return 0;
  return Number(d.seconds) * 1000 + d.nanos / 1e6;
}
