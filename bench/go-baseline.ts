/**
 * Builds and runs the Go side (bench/go-syncquerier): the baseline reader (Pomerium's own
 * storage.NewSyncQuerier), the floor (SyncLatest read and discarded: the limit the server sets)
 * and the neutral writer of the propagation test. Built with `nice` into
 * node_modules/.cache so nothing lands in the tree; go build is incremental (seconds when unchanged).
 */
import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SECRET_ENV } from "./bench-secret.js";
import { runChildForJson } from "./child-process-json.js";

const SOURCE_DIR = fileURLToPath(new URL("./go-syncquerier/", import.meta.url));
const OUT_DIR = fileURLToPath(new URL("../node_modules/.cache/bench/", import.meta.url));
const BINARY = `${OUT_DIR}go-syncquerier`;

export interface GoRunResult {
  types: string[];
  sessions: number;
  users: number;
  readyMs: number;
  recordsPerSec: number;
  heapBaselineBytes: number;
  heapAfterBytes: number;
  heapPerRecordBytes: number;
  rssBytes: number;
  queryByIdNs: number;
  /** Sequential Put round trips after the warm-up (put-round-trip-plan.ts). */
  putRoundTripMs: number[] | null;
  /** The client's first Put round trips (put-round-trip-plan.ts). */
  putRoundTripColdMs: number[] | null;
  /** Unix ms at which prop-<tag>-<i> became visible; -1 when never. */
  propVisibleUnixMs: number[] | null;
  goVersion: string;
  pomeriumVersion: string;
}

/** One SyncLatest stream of the floor client. */
export interface FloorTypeResult {
  /** Record messages (oneof tag 1). */
  records: number;
  /** All messages, versions and options included. */
  messages: number;
  /** Message bytes received (gRPC frame payloads). */
  bytes: number;
  /** Start -> this stream's end. */
  endMs: number;
}

export interface FloorRunResult {
  mode: "floor";
  types: string[];
  records: number;
  sessions: number;
  users: number;
  bytes: number;
  /** Start (before the connection) -> the last type's stream end. */
  readyMs: number;
  recordsPerSec: number;
  /** The floor process's user + system CPU time over the run. */
  cpuMs: number;
  perType: { [type: string]: FloorTypeResult };
  goVersion: string;
}

export interface WriterResult {
  write: true;
  sentUnixMs: number[];
  ackMs: number[];
  failed: number;
}

export async function buildGoBinary(): Promise<string> {
  await mkdir(OUT_DIR, { recursive: true });
  await promisify(execFile)("nice", ["-n", "10", "go", "build", "-tags", "embed_pomerium", "-o", BINARY, "."], {
    cwd: SOURCE_DIR,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 20 * 60_000,
  });
  return BINARY;
}

const env = (sharedSecret: string) => ({ ...process.env, [SECRET_ENV]: sharedSecret });

export function runGoReader(binary: string, url: string, sharedSecret: string, propCount: number, runTag: string, onLine: (line: string) => void): Promise<GoRunResult> {
  return runChildForJson<GoRunResult>({
    command: binary,
    args: ["-mode", "sync", "-addr", new URL(url).host, "-prop-count", String(propCount), "-run-tag", runTag],
    env: env(sharedSecret),
    resultKey: "readyMs",
    onLine,
  });
}

export function runGoFloor(binary: string, url: string, sharedSecret: string): Promise<FloorRunResult> {
  return runChildForJson<FloorRunResult>({
    command: binary,
    args: ["-mode", "floor", "-addr", new URL(url).host],
    env: env(sharedSecret),
    resultKey: "readyMs",
  });
}

export function runGoWriter(binary: string, url: string, sharedSecret: string, rate: number, count: number, runTag: string): Promise<WriterResult> {
  return runChildForJson<WriterResult>({
    command: binary,
    args: ["-mode", "write", "-addr", new URL(url).host, "-prop-rate", String(rate), "-prop-count", String(count), "-run-tag", runTag],
    env: env(sharedSecret),
    resultKey: "sentUnixMs",
  });
}

export async function runGoDelete(binary: string, url: string, sharedSecret: string, count: number, runTag: string): Promise<void> {
  await runChildForJson<{ deleted: number }>({
    command: binary,
    args: ["-mode", "delete", "-addr", new URL(url).host, "-prop-count", String(count), "-run-tag", runTag],
    env: env(sharedSecret),
    resultKey: "deleted",
  });
}
