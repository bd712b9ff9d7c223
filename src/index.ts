/**
 * The public surface of @pomerium-sdk/databroker-cache (the package's root entry). Everything not
 * exported here, or from `src/testing.ts` (the `/testing` entry: the in-memory databroker), is
 * internal and free to change.
 *
 * @module @pomerium-sdk/databroker-cache
 */

// The cache.
export { createDatabrokerCache } from "./cache/databroker-cache.js";
export type {
  ConsistentRead,
  ConsistentReadOptions,
  DatabrokerCache,
  Freshness,
  Lookup,
  ReadyOptions,
  VersionOptions,
  WaitForVersionOptions,
} from "./cache/databroker-cache.js";
export { versionOfWrite } from "./cache/databroker-version.js";
export type { DatabrokerVersion } from "./cache/databroker-version.js";
export { DEFAULT_CACHE_TRANSPORT, DEFAULT_CACHE_TYPES } from "./cache/cache-options.js";
export type { DatabrokerCacheOptions, RetryOptions } from "./cache/cache-options.js";
export type { CacheState, CacheStreamState } from "./cache/cache-state.js";
export type { SnapshotOptions, SnapshotReadiness } from "./snapshot-file/snapshot-options.js";
export { SNAPSHOT_REJECTION_REASONS } from "./snapshot-file/snapshot-rejection.js";
export type { SnapshotRejectionReason } from "./snapshot-file/snapshot-rejection.js";
export { DEFAULT_SUBSCRIBER_BUFFER_BYTES, DEFAULT_SUBSCRIBER_BUFFER_SIZE } from "./cache/change-buffer.js";
export { DEFAULT_DECODED_MESSAGE_LIMIT } from "./replica/decoded-messages.js";
export type { CacheChange, OverflowMarker } from "./cache/change-buffer.js";
export type { WaitOptions } from "./cache/waiters.js";
export type { ChangeBatch, ChangeBatchKind } from "./replica/change-batch.js";
export type { CachedRecord } from "./replica/cached-record.js";
export type { IndexFunction } from "./replica/index-definitions.js";
export type { LocalQueryRequest, ValidityOptions } from "./replica/replica.js";
export type { SyncStateName } from "./sync/sync-state-machine.js";
export type { StreamRefreshOptions } from "./sync/sync-loop.js";
export { CLUSTER_REQUEST_MODE_HEADER, DEFAULT_LEADER_CHECK_INTERVAL_MS } from "./sync/cluster-options.js";
export type { ClusterOptions, ClusterSyncMode } from "./sync/cluster-options.js";
export type { Clock } from "./records/clock.js";
export type { DatabrokerTlsOptions } from "./transport/tls-options.js";
export type { DatabrokerTransportImplementation } from "./transport/databroker-transport.js";
export type { DataBrokerClient } from "./transport/databroker-clients.js";

export { StaleCacheError } from "./cache/stale-cache-error.js";

// Identity: Pomerium's assertion, checked against the replica; revocation events.
export {
  ASSERTION_ALGORITHMS,
  DEFAULT_ASSERTION_ALGORITHMS,
  DEFAULT_ASSERTION_LEEWAY_SEC,
  DEFAULT_MAX_ASSERTION_BYTES,
  createAssertionVerifier,
} from "./identity/assertion-verifier.js";
export type { AssertionAlgorithm, AssertionVerifier, AssertionVerifierOptions } from "./identity/assertion-verifier.js";
export type {
  AssertionAccepted,
  AssertionRefusalReason,
  AssertionRefused,
  AssertionVerification,
  PomeriumIdentity,
} from "./identity/assertion-result.js";
export { sessionEnds$ } from "./identity/session-ends.js";
export type { SessionEnd, SessionEndReason, SessionEndsOptions } from "./identity/session-ends.js";

// Observability hooks.
export type { DatabrokerCacheLogAttributes, DatabrokerCacheLogLevel, DatabrokerCacheLogger } from "./observability/cache-logger.js";
export { METER_NAME } from "./observability/syncer-metrics.js";

// Record types and validity rules.
export {
  DIRECTORY_GROUP_TYPE,
  DIRECTORY_USER_TYPE,
  IDENTITY_BINDING_TYPE,
  SERVICE_ACCOUNT_TYPE,
  SESSION_BINDING_REQUEST_TYPE,
  SESSION_BINDING_TYPE,
  SESSION_TYPE,
  TYPE_URL_PREFIX,
  USER_TYPE,
} from "./records/type-urls.js";
export { isServiceAccountValid, isSessionValid } from "./records/validity.js";
export { LEAN_REFRESH_TOKEN_PLACEHOLDER, leanProjection } from "./records/record-projection.js";
export type { ProjectionOption, RecordProjection } from "./records/record-projection.js";

// Errors: everything the SDK throws is a ConnectError with a gRPC Code, except a bad secret.
export { Code, ConnectError } from "@connectrpc/connect";
export { SharedSecretError } from "./transport/shared-secret.js";

// Generated messages users handle.
export { RecordSchema } from "../gen/databroker/databroker_pb.js";
// The databroker's Record message, under a name that does not shadow TypeScript's global Record<K, V>.
export type { QueryResponse, Record as DatabrokerRecord } from "../gen/databroker/databroker_pb.js";
export { SessionSchema } from "../gen/session/session_pb.js";
export type { Session } from "../gen/session/session_pb.js";
export { ServiceAccountSchema, UserSchema } from "../gen/user/user_pb.js";
export type { ServiceAccount, User } from "../gen/user/user_pb.js";

// Types the public surface refers to (so the API reference can link them).
export type { IDToken, OAuthToken, Session_DeviceCredential } from "../gen/session/session_pb.js";
export type { RetryPolicy } from "./sync/retry-delay.js";
export { SYNC_STATE_NAMES } from "./sync/sync-state-machine.js";
