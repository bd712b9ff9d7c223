/**
 * Checks, once per process, that connect-node still reports a stream the peer reset the way
 * isStreamReset() (connection-errors.ts) recognises it. connect-node 2.1.x maps a RST_STREAM to a
 * gRPC code (CANCEL to Canceled, the same code as the CANCELLED status a server-side Clear
 * sends) and keeps nothing structured about the reset: only the wording of the message
 * ("http/2 stream closed with error code CANCEL (0x8)") tells the two apart.
 *
 * The probe runs connect-node's real gRPC transport against a real node:http2 server joined to
 * it by an in-memory stream pair (no socket, no port): one call the server resets with CANCEL,
 * one it answers with a CANCELLED status. Unless the reset is recognised and the status is not,
 * the wording is no longer trusted: a reset then reads as a Clear, which the sync loop heals by a
 * resync from SyncLatest (failing over when the databroker is really gone). That loses nothing;
 * it is only slower than resuming the stream.
 */
import * as http2 from "node:http2";
import { Duplex } from "node:stream";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { Http2SessionManager, createGrpcTransport } from "@connectrpc/connect-node";
import { DataBrokerService } from "../../gen/databroker/databroker_pb.js";
import { distrustConnectNodeResetWording, hasConnectNodeResetWording } from "./connection-errors.js";

/** The probe's server resets calls that carry this header and answers the others with CANCELLED. */
const RESET_HEADER = "x-reset-probe";
const PROBE_ORIGIN = "http://connect-node-reset-probe.invalid";
/** Longer than the probe ever takes (tens of milliseconds); past it the wording counts as changed. */
const PROBE_TIMEOUT_MS = 5000;

/** Two connected in-memory streams: what one side writes, the other reads. */
function streamPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  for (const other of [1, 0]) {
    sides.push(
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, done) {
          sides[other]!.push(chunk);
          done();
        },
        final(done) {
          sides[other]!.push(null);
          done();
        },
      }),
    );
  }
  return [sides[0]!, sides[1]!];
}

function failureOf(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/**
 * True when connect-node words a reset as isStreamReset() expects and a CANCELLED status not.
 * `interceptors` run in the probe's transport (tests use them to stand for another release).
 */
export async function probeConnectNodeResetWording(interceptors: readonly Interceptor[] = []): Promise<boolean> {
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    if (headers[RESET_HEADER] !== undefined) {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(Code.Canceled), "grpc-message": "context canceled" }, { endStream: true });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("error", () => undefined);
  });
  const [clientSide, serverSide] = streamPair();
  server.emit("connection", serverSide);
  const manager = new Http2SessionManager(PROBE_ORIGIN, undefined, { createConnection: () => clientSide });
  const client = createClient(DataBrokerService, createGrpcTransport({ baseUrl: PROBE_ORIGIN, sessionManager: manager, interceptors: [...interceptors] }));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS);
    timer.unref();
  });
  try {
    const calls = Promise.all([
      failureOf(client.serverInfo({}, { headers: { [RESET_HEADER]: "1" } })),
      failureOf(client.serverInfo({})),
    ]);
    const outcome = await Promise.race([calls, timeout]);
    if (outcome === "timeout") return false;
    const [reset, status] = outcome;
    return (
      reset instanceof ConnectError &&
      reset.code === Code.Canceled &&
      hasConnectNodeResetWording(reset) &&
      status instanceof ConnectError &&
      status.code === Code.Canceled &&
      !hasConnectNodeResetWording(status)
    );
  } finally {
    clearTimeout(timer);
    manager.abort();
    for (const session of sessions) session.destroy();
    clientSide.destroy();
    serverSide.destroy();
  }
}

let checked: Promise<boolean> | undefined;

/**
 * Runs the probe once per process (the first call's `probe` is the one used) and stops trusting
 * the wording when it fails. Resolves to whether the wording is still trusted; never rejects.
 */
export function checkConnectNodeResetWording(probe: () => Promise<boolean> = probeConnectNodeResetWording): Promise<boolean> {
  checked ??= probe()
    .catch(() => false)
    .then((recognised) => {
      if (!recognised) distrustConnectNodeResetWording();
      return recognised;
    });
  return checked;
}
