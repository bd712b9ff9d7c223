/**
 * A type's options reach a Sync stream only when the stream starts. The scenario: a cache is
 * live on sessions when SetOptions makes `idp_id` indexable; the server's Query with a filter on
 * it answers at once, and the cache's local query must answer the same (ids, versions,
 * total_count) within OPTIONS_BOUND_MS, which only a restarted stream (the periodic re-read)
 * brings about. Run against our in-memory databroker and Pomerium's memory storage (where, as
 * locally, an equality on a field that is not indexable matches nothing).
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { OptionsSchema, type QueryResponse } from "../../gen/databroker/databroker_pb.js";
import { createDatabrokerCache, SESSION_TYPE, type DatabrokerCache, type StreamRefreshOptions } from "../../src/index.js";
import type { TestClients } from "../server/databroker-client.js";
import { Cleanups, FAST_RETRY, session, until } from "./cache-fixtures.js";

export const OPTIONS_REFRESH = { intervalMs: 1000, lateCommitGraceMs: 0 } as const satisfies StreamRefreshOptions;
/** The next refresh comes at most `intervalMs` after SetOptions; the margin covers the restart on a busy machine. */
export const OPTIONS_BOUND_MS = OPTIONS_REFRESH.intervalMs + 4000;

const FIELD = "idp_id";
const FILTER = { [FIELD]: "idp-a" };
const IDS = Array.from({ length: 10 }, (_, i) => `opt-s${i}`);

export interface IndexableFieldTarget {
  readonly url: string;
  readonly sharedSecret: string;
  readonly writer: TestClients["databroker"];
}

/** What a Query answer says, for comparing the cache's with the server's. */
function answer(response: QueryResponse): { ids: [string, bigint][]; totalCount: bigint } {
  return { ids: response.records.map((r) => [r.id, r.version]), totalCount: response.totalCount };
}

/** Runs the scenario; resolves with how long after SetOptions the cache answered like the server. */
export async function newIndexableFieldReachesLocalQuery(target: IndexableFieldTarget, cleanups: Cleanups): Promise<number> {
  const { writer } = target;
  await writer.put({ records: IDS.map((id, i) => session(id, `u${i}`, { idpId: i % 2 === 0 ? "idp-a" : "idp-b" })) });
  const cache: DatabrokerCache = createDatabrokerCache({
    url: target.url,
    sharedSecret: target.sharedSecret,
    retry: FAST_RETRY,
    types: [SESSION_TYPE],
    streamRefresh: OPTIONS_REFRESH,
  });
  cleanups.add(() => cache.close());
  await cache.ready({ timeoutMs: 10_000 });
  const serverQuery = async () => answer(await writer.query({ type: SESSION_TYPE, filter: FILTER, limit: 100n }));
  const localQuery = () => answer(cache.query(SESSION_TYPE, { filter: FILTER, limit: 100 }));

  // Not indexable yet: both answer nothing.
  expect(await serverQuery()).toEqual({ ids: [], totalCount: 0n });
  expect(localQuery()).toEqual({ ids: [], totalCount: 0n });

  const existing = await writer.getOptions({ type: SESSION_TYPE }).then(
    (r) => r.options?.indexableFields ?? [],
    (error: unknown) => {
      if (ConnectError.from(error).code === Code.NotFound) return [];
      throw error;
    },
  );
  await writer.setOptions({ type: SESSION_TYPE, options: create(OptionsSchema, { indexableFields: [...existing, FIELD] }) });
  const setAt = performance.now();
  // A write after SetOptions, so the server's answer also holds a record the live stream delivers.
  const added = (await writer.put({ records: [session("opt-s-new", "u-new", { idpId: "idp-a" })] })).records[0]!.version;
  const expected = await serverQuery();
  expect(expected.ids.map(([id]) => id)).toEqual(["opt-s-new", ...IDS.filter((_, i) => i % 2 === 0)].sort());
  await until(() => cache.get(SESSION_TYPE, "opt-s-new")?.version === added, "the live stream delivering a write made after SetOptions", 10_000);

  try {
    await until(() => JSON.stringify(localQuery(), big) === JSON.stringify(expected, big), "the local query to answer like the server", OPTIONS_BOUND_MS);
  } catch {
    expect(localQuery(), `the cache's answer ${OPTIONS_BOUND_MS} ms after SetOptions`).toEqual(expected);
  }
  return Math.round(performance.now() - setAt);
}

const big = (_: string, v: unknown) => (typeof v === "bigint" ? String(v) : v);
