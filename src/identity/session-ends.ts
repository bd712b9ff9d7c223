/**
 * Revocation events: the sessions that ended, so a host can close what belongs to them
 * (WebSockets, server-sent event streams, long polls) at once instead of when their next request
 * comes.
 *
 * Built on the cache's session changes (delivered outside the sync loop, bounded per
 * subscriber). Each subscription keeps the ids of the live sessions it knows, with the instant
 * each becomes invalid, and reports a session once, when it:
 * - is deleted (a sign-out, or an administrator's delete): "deleted";
 * - becomes invalid by Pomerium's validity rules (expires_at passed, or its OAuth token expired
 *   with no way to refresh): "expired", from one timer armed for the earliest such instant
 *   (never a polling loop), or at once when an update makes it invalid;
 * - is gone after a resync, or after the subscriber fell behind and re-read the cache: "resync".
 * Sessions that were never valid while watched are not reported.
 *
 * On subscribe it reads the sessions the cache holds (sessions that end later are reported, not
 * those already gone). While the cache is past its staleness bound it cannot be read; the
 * subscription then re-reads it once it is fresh again. Completes when the cache closes.
 */
import { Observable } from "rxjs";
import type { Session } from "../../gen/session/session_pb.js";
import type { DatabrokerCache } from "../cache/databroker-cache.js";
import type { CacheChange } from "../cache/change-buffer.js";
import { StaleCacheError } from "../cache/stale-cache-error.js";
import { systemClock, type Clock } from "../records/clock.js";
import { SESSION_TYPE } from "../records/type-urls.js";
import { sessionInvalidAfterMs } from "../records/validity.js";
import { MAX_TIMER_DELAY_MS } from "../transport/max-timer-delay.js";
import { ExpiryQueue } from "./expiry-queue.js";

/** How a session ended (see the module comment). */
export type SessionEndReason = "deleted" | "expired" | "resync";

export interface SessionEnd {
  readonly sessionId: string;
  /** The session's user id, as last held. */
  readonly userId: string;
  readonly reason: SessionEndReason;
  /** The session as last held (deep-frozen), when the cache still had it decoded. */
  readonly session: Readonly<Session> | undefined;
}

export interface SessionEndsOptions {
  /** The clock that decides expiry: give the cache's own `clock` if it has one. Default Date.now(). */
  readonly clock?: Clock;
}

interface LiveSession {
  readonly userId: string;
  readonly limitMs: number;
  readonly session: Readonly<Session>;
}

type ScanState = "current" | "wanted";

/** The ended sessions of `cache` (see the module comment); each subscription watches on its own. */
export function sessionEnds$(cache: DatabrokerCache, options: SessionEndsOptions = {}): Observable<SessionEnd> {
  const clock = options.clock ?? systemClock;
  return new Observable<SessionEnd>((subscriber) => {
    const live = new Map<string, LiveSession>();
    const queue = new ExpiryQueue();
    let timer: NodeJS.Timeout | undefined;
    let scan: ScanState = "wanted";

    const end = (id: string, reason: SessionEndReason): void => {
      const held = live.get(id);
      if (held === undefined) return;
      live.delete(id);
      subscriber.next(Object.freeze({ sessionId: id, userId: held.userId, reason, session: held.session }));
    };

    const arm = (): void => {
      clearTimeout(timer);
      timer = undefined;
      const next = queue.peek();
      if (next === undefined || subscriber.closed) return;
      // Invalid strictly after the limit: wake 1 ms past it.
      const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Math.ceil(next.limitMs - clock.now()) + 1));
      timer = setTimeout(expireDue, delay);
    };

    const expireDue = (): void => {
      const now = clock.now();
      for (let next = queue.peek(); next !== undefined && now > next.limitMs; next = queue.peek()) {
        queue.pop();
        // Outdated entries (the session changed or ended since) are skipped.
        if (live.get(next.id)?.limitMs === next.limitMs) end(next.id, "expired");
      }
      arm();
    };

    const track = (session: Readonly<Session> | undefined, id: string): void => {
      if (session === undefined) return end(id, "deleted"); // replaced by undecodable data
      const limitMs = sessionInvalidAfterMs(session as Session);
      if (clock.now() > limitMs) return end(id, "expired");
      const held = live.get(id);
      live.set(id, { userId: session.userId, limitMs, session });
      if (held?.limitMs === limitMs || limitMs === Number.POSITIVE_INFINITY) return;
      queue.push({ limitMs, id });
      // Outdated entries pile up under frequent refreshes: rebuild from the live set when they dominate.
      if (queue.size > 2 * live.size + 1024) {
        queue.clear();
        for (const [liveId, s] of live) if (s.limitMs !== Number.POSITIVE_INFINITY) queue.push({ limitMs: s.limitMs, id: liveId });
      }
      if (queue.peek()?.id === id) arm();
    };

    /** Reads every session the cache holds; those tracked but gone ended unseen. */
    const rescan = (): void => {
      let ids: string[];
      const sessions = new Map<string, Readonly<Session> | undefined>();
      try {
        ids = cache.query(SESSION_TYPE).records.map((r) => r.id);
        for (const id of ids) sessions.set(id, cache.getSession(id, { includeInvalid: true }));
      } catch (error) {
        if (error instanceof StaleCacheError) return; // re-read once fresh (see the state$ subscription)
        throw error;
      }
      scan = "current";
      for (const id of [...live.keys()]) if (!sessions.has(id)) end(id, "resync");
      for (const [id, session] of sessions) track(session, id);
    };

    const onChange = (change: CacheChange): void => {
      if (change.kind === "overflow" || scan === "wanted") return rescan();
      const reason: SessionEndReason = change.kind === "resync" ? "resync" : "deleted";
      for (const record of change.deletes) end(record.id, reason);
      for (const record of change.upserts) track(record.message as Readonly<Session> | undefined, record.id);
    };

    // Subscribe before reading, in the same job: nothing can change between the two.
    const changes = cache.changes$(SESSION_TYPE).subscribe({
      next: onChange,
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
    rescan();
    // state$ runs its subscribers inside the sync loop's step: re-read after it, not in it.
    const states = cache.state$.subscribe((state) => {
      if (!state.stale && scan === "wanted") {
        queueMicrotask(() => {
          if (!subscriber.closed && scan === "wanted") rescan();
        });
      }
    });
    return () => {
      changes.unsubscribe();
      states.unsubscribe();
      clearTimeout(timer);
      live.clear();
      queue.clear();
    };
  });
}
