/**
 * A scripted fake of the loop's stream source: every SyncLatest / Sync the loop opens is
 * recorded, and the test decides what each stream sends and how it ends.
 */
import { create } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  RecordSchema,
  SyncLatestResponseSchema,
  SyncResponseSchema,
  TypedOptionsSchema,
  VersionsSchema,
  OptionsSchema,
  type Record as DatabrokerRecord,
  type SyncLatestResponse,
  type SyncResponse,
} from "../../gen/databroker/databroker_pb.js";
import type { SyncSourceProvider, SyncStreamSource } from "../../src/sync/sync-stream-source.js";
export { sleep, until } from "../support/wait-until.js";

export class ScriptedStream<M> implements AsyncIterable<M> {
  private readonly queue: Array<{ value: M } | { end: true } | { error: unknown }> = [];
  private wake: (() => void) | undefined;
  aborted = false;
  /** For tests that serve calls in turn: set once a test has answered this stream. */
  served = false;

  constructor(readonly signal: AbortSignal) {
    signal.addEventListener("abort", () => {
      this.aborted = true;
      this.wake?.();
    });
  }

  push(...values: M[]): this {
    for (const value of values) this.queue.push({ value });
    this.wake?.();
    return this;
  }

  end(): void {
    this.queue.push({ end: true });
    this.wake?.();
  }

  fail(error: unknown): void {
    this.queue.push({ error });
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<M> {
    for (;;) {
      if (this.aborted) throw new ConnectError("the operation was aborted", Code.Canceled);
      const item = this.queue.shift();
      if (item === undefined) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      if ("value" in item) yield item.value;
      else if ("end" in item) return;
      else throw item.error;
    }
  }
}

export interface OpenedCall {
  readonly kind: "syncLatest" | "sync";
  readonly url: string;
  readonly type: string;
  readonly serverVersion?: bigint;
  readonly recordVersion?: bigint;
  readonly latest?: ScriptedStream<SyncLatestResponse>;
  readonly changes?: ScriptedStream<SyncResponse>;
  readonly signal: AbortSignal;
}

export class ScriptedProvider implements SyncSourceProvider {
  readonly calls: OpenedCall[] = [];
  readonly failures: string[] = [];
  readonly connects: string[] = [];
  /** Decides how each connect() goes; resolves at once by default. */
  onConnect: (url: string) => Promise<void> = async () => undefined;
  private index = 0;
  private waiters: Array<() => void> = [];
  private readonly sources: SyncStreamSource[];

  constructor(urls: readonly string[] = ["http://fake-a"]) {
    this.sources = urls.map((url) => this.sourceFor(url));
  }

  current(): SyncStreamSource {
    return this.sources[this.index]!;
  }

  reportConnectionFailure(source: SyncStreamSource): void {
    this.failures.push(source.url);
    if (this.sources[this.index] === source) {
      // As the URL set: the failed connection is reset (its other streams are cut), next URL.
      (source as { resets: number }).resets++;
      this.index = (this.index + 1) % this.sources.length;
    }
  }

  /** Resolves with the n-th call (0-based) once the loop has opened it. */
  async call(n: number, timeoutMs = 5000): Promise<OpenedCall> {
    const deadline = Date.now() + timeoutMs;
    while (this.calls.length <= n) {
      if (Date.now() > deadline) throw new Error(`call ${n} was never opened (saw ${this.calls.length})`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
    return this.calls[n]!;
  }

  private record(call: OpenedCall): void {
    this.calls.push(call);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private sourceFor(url: string): SyncStreamSource {
    return {
      url,
      resets: 0,
      connect: () => {
        this.connects.push(url);
        return this.onConnect(url);
      },
      syncLatest: (type, signal) => {
        const latest = new ScriptedStream<SyncLatestResponse>(signal);
        this.record({ kind: "syncLatest", url, type, latest, signal });
        return latest;
      },
      sync: (request, signal) => {
        const changes = new ScriptedStream<SyncResponse>(signal);
        this.record({ kind: "sync", url, type: request.type, serverVersion: request.serverVersion, recordVersion: request.recordVersion, changes, signal });
        return changes;
      },
    };
  }
}

export const SESSION_TYPE = "type.googleapis.com/session.Session";

export function record(id: string, version: bigint, deleted = false): DatabrokerRecord {
  return create(RecordSchema, {
    type: SESSION_TYPE,
    id,
    version,
    data: create(AnySchema, { typeUrl: SESSION_TYPE, value: new TextEncoder().encode(id) }),
    deletedAt: deleted ? { seconds: 1n, nanos: 0 } : undefined,
  });
}

export const latestRecord = (r: DatabrokerRecord) => create(SyncLatestResponseSchema, { response: { case: "record", value: r } });
export const latestVersions = (serverVersion: bigint, latestRecordVersion: bigint) =>
  create(SyncLatestResponseSchema, { response: { case: "versions", value: create(VersionsSchema, { serverVersion, latestRecordVersion }) } });
export const latestOptions = (typeURL: string, capacity: bigint) =>
  create(SyncLatestResponseSchema, {
    response: { case: "options", value: create(TypedOptionsSchema, { typeURL, options: create(OptionsSchema, { capacity }) }) },
  });
export const change = (r: DatabrokerRecord) => create(SyncResponseSchema, { response: { case: "record", value: r } });
export const changeOptions = (typeURL: string, capacity: bigint) =>
  create(SyncResponseSchema, {
    response: { case: "options", value: create(TypedOptionsSchema, { typeURL, options: create(OptionsSchema, { capacity }) }) },
  });

