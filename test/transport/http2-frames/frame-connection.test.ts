/**
 * Our own HTTP/2 connection against Node's HTTP/2 server (nghttp2, an independent implementation)
 * over real loopback sockets: flow control both ways, header blocks split into CONTINUATION
 * frames, padding, the peer's limit on concurrent streams, GOAWAY, resets and protocol errors.
 */
import { once } from "node:events";
import { createServer, constants, type Http2Server, type ServerHttp2Session, type ServerHttp2Stream } from "node:http2";
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { FrameConnection, type FrameStream, type StreamEnd } from "../../../src/transport/http2-frames/frame-connection.js";
import { encodeFrame, ErrorCode, Flags, FrameReader, FrameType, windowUpdateFrame } from "../../../src/transport/http2-frames/frame-codec.js";
import type { HeaderField } from "../../../src/transport/http2-frames/hpack-decoder.js";

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

type Handler = (stream: ServerHttp2Stream, headers: Record<string, string | string[] | undefined>, session: ServerHttp2Session) => void;

async function serve(handler: Handler, options: Parameters<typeof createServer>[0] = {}): Promise<{ server: Http2Server; port: number; sessions: ServerHttp2Session[] }> {
  const server = createServer(options);
  const sessions: ServerHttp2Session[] = [];
  server.on("session", (s: ServerHttp2Session) => sessions.push(s));
  server.on("stream", (stream, headers) => handler(stream, headers as Record<string, string>, stream.session as ServerHttp2Session));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  closers.push(async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { server, port: (server.address() as AddressInfo).port, sessions };
}

async function open(port: number, windowBytes = 1 << 20): Promise<{ connection: FrameConnection; socket: Socket; closed: Promise<Error | undefined> }> {
  const socket = connect({ host: "127.0.0.1", port });
  await once(socket, "connect");
  let onClose!: (error: Error | undefined) => void;
  const closed = new Promise<Error | undefined>((resolve) => (onClose = resolve));
  const connection = new FrameConnection(socket, { streamWindowBytes: windowBytes, connectionWindowBytes: windowBytes, onClose });
  closers.push(() => connection.destroy());
  return { connection, socket, closed };
}

interface Answer {
  headers: HeaderField[][];
  data: Buffer;
  end: StreamEnd;
  stream: FrameStream;
}

function request(
  connection: FrameConnection,
  path: string,
  body: Buffer | undefined,
  extra: HeaderField[] = [],
  consume = true,
  onChunk?: (received: number) => void,
): Promise<Answer> & { stream: FrameStream } {
  let received = 0;
  const headers: HeaderField[][] = [];
  const chunks: Buffer[] = [];
  let stream!: FrameStream;
  const done = new Promise<Answer>((resolve) => {
    stream = connection.openStream([[":method", "POST"], [":scheme", "http"], [":path", path], [":authority", "test"], ...extra], {
      onHeaders: (fields) => headers.push(fields),
      onData: (data) => {
        chunks.push(Buffer.from(data));
        received += data.length;
        if (consume) stream.consumed(data.length);
        onChunk?.(received);
      },
      onEnd: (end) => resolve({ headers, data: Buffer.concat(chunks), end, stream }),
    });
  });
  stream.write(body ?? Buffer.alloc(0), true);
  return Object.assign(done, { stream });
}

/** Reads the whole request body, then answers with `respond`. */
function readBody(stream: ServerHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  return once(stream, "end").then(() => Buffer.concat(chunks));
}

function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const field = (answer: Answer, block: number, name: string): string | undefined => answer.headers[block]?.find(([n]) => n === name)?.[1];

describe("FrameConnection against Node's HTTP/2 server", () => {
  it("sends a body far larger than the server's windows, and reads an answer far larger than a frame", async () => {
    const { port } = await serve(
      (stream) => {
        void readBody(stream).then((body) => {
          stream.respond({ ":status": 200, "x-length": String(body.length) });
          // Echo the body back twice: 2 MiB in DATA frames of at most 16 KiB.
          stream.write(body);
          stream.end(body);
        });
      },
      { settings: { initialWindowSize: 16_384, maxFrameSize: 16_384 } },
    );
    const { connection } = await open(port);
    const body = Buffer.alloc(1 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
    const answer = await request(connection, "/echo", body);
    expect(answer.end).toEqual({ kind: "ended" });
    expect(field(answer, 0, ":status")).toBe("200");
    expect(field(answer, 0, "x-length")).toBe(String(body.length));
    expect(answer.data.equals(Buffer.concat([body, body]))).toBe(true);
  });

  it("stops the server once a stream's reader stops giving its window back, and lets the other streams go on", async () => {
    const window = 256 * 1024;
    const { port } = await serve((stream, headers) => {
      stream.respond({ ":status": 200 });
      // 8 MiB for /big, written as fast as Node takes it: only flow control holds it back.
      stream.end(headers[":path"] === "/small" ? "ok" : Buffer.alloc(8 << 20, 1));
    });
    const { connection } = await open(port, window);
    const filled = deferred();
    let bigReceived = 0;
    const big = request(connection, "/big", undefined, [], false, (received) => {
      bigReceived = received;
      if (received >= window) filled.resolve();
    });
    await filled.promise;
    // The stream's whole window has come and none of it was given back: the server must wait,
    // while another stream on the same connection is answered.
    const small = await request(connection, "/small", undefined);
    expect(small.data.toString()).toBe("ok");
    expect(small.end).toEqual({ kind: "ended" });
    expect(bigReceived).toBe(window);
    big.stream.cancel();
    const cancelled = await big;
    expect(cancelled.end).toEqual({ kind: "cancelled", code: ErrorCode.CANCEL });
    expect(cancelled.data.length).toBe(window);
  });

  it("decodes header blocks split over CONTINUATION frames, and padded frames", async () => {
    const long = "v".repeat(40_000);
    const { port } = await serve(
      (stream) => {
        stream.respond({ ":status": 200, "x-long": long }, { waitForTrailers: true });
        stream.on("wantTrailers", () => stream.sendTrailers({ "x-trailer": long.slice(0, 20_000), "grpc-status": "0" }));
        stream.end("padded body");
      },
      { paddingStrategy: constants.PADDING_STRATEGY_MAX, maxHeaderListPairs: 1000, maxSendHeaderBlockLength: 200_000 },
    );
    const { connection } = await open(port);
    const answer = await request(connection, "/headers", undefined);
    expect(answer.end).toEqual({ kind: "ended" });
    expect(field(answer, 0, "x-long")).toBe(long);
    expect(field(answer, 1, "x-trailer")).toBe(long.slice(0, 20_000));
    expect(field(answer, 1, "grpc-status")).toBe("0");
    expect(answer.data.toString()).toBe("padded body");
  });

  it("sends long request header blocks in CONTINUATION frames", async () => {
    const long = "k".repeat(50_000);
    const { port } = await serve(
      (stream, headers) => {
        stream.respond({ ":status": 200 });
        stream.end(String(headers["x-long"]?.length));
      },
      { maxSessionMemory: 100 },
    );
    const { connection } = await open(port);
    const answer = await request(connection, "/", undefined, [["x-long", long]]);
    expect(answer.data.toString()).toBe("50000");
  });

  it("keeps to the server's limit on concurrent streams, opening the others as streams end", async () => {
    let open_ = 0;
    let most = 0;
    const { port } = await serve(
      (stream) => {
        open_++;
        most = Math.max(most, open_);
        stream.respond({ ":status": 200 });
        setImmediate(() => {
          open_--;
          stream.end("done");
        });
      },
      { settings: { maxConcurrentStreams: 2 } },
    );
    const { connection } = await open(port);
    // The limit is known from the server's SETTINGS: wait for it before opening many.
    await connection.ping();
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => request(connection, `/${i}`, undefined)));
    expect(answers.every((a) => a.data.toString() === "done")).toBe(true);
    expect(most).toBeLessThanOrEqual(2);
  });

  it("fails the streams a GOAWAY says were not processed as refused, lets the others finish, then closes", async () => {
    const held: ServerHttp2Stream[] = [];
    let session!: ServerHttp2Session;
    const both = deferred();
    const { port } = await serve((stream, _headers, s) => {
      session = s;
      stream.on("error", () => undefined); // the stream the GOAWAY refuses errors on the server's side
      held.push(stream);
      if (held.length === 2) both.resolve();
    });
    const { connection, closed } = await open(port);
    const first = request(connection, "/1", undefined);
    const second = request(connection, "/2", undefined);
    await both.promise;
    // Processed up to stream 1 only: stream 3 was "not processed".
    session.goaway(constants.NGHTTP2_NO_ERROR, 1);
    const refused = await second;
    expect(refused.end).toMatchObject({ kind: "connection", refused: true });
    expect(connection.acceptsStreams).toBe(false);
    expect(() => connection.openStream([[":path", "/"]], { onHeaders() {}, onData() {}, onEnd() {} })).toThrow(/no longer accepts streams/);
    (held[0] as ServerHttp2Stream).respond({ ":status": 200 });
    (held[0] as ServerHttp2Stream).end("finished");
    const finished = await first;
    expect(finished.data.toString()).toBe("finished");
    expect(finished.end).toEqual({ kind: "ended" });
    expect(await closed).toBeUndefined();
  });

  it("reports a stream the server resets, and answers the server's PINGs", async () => {
    let session!: ServerHttp2Session;
    const { port } = await serve((stream, _headers, s) => {
      session = s;
      stream.on("error", () => undefined); // Node reports its own reset as an error on the stream
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
    });
    const { connection } = await open(port);
    const answer = await request(connection, "/", undefined);
    expect(answer.end).toEqual({ kind: "reset", code: ErrorCode.REFUSED_STREAM });
    const rtt = await new Promise<number>((resolve, reject) => session.ping((error, duration) => (error ? reject(error) : resolve(duration))));
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(await connection.ping()).toBeGreaterThanOrEqual(0);
  });

  it("sends a stream opened with its whole request as HEADERS and DATA in one socket write, and the server reads that body", async () => {
    const { port } = await serve((stream) => {
      void readBody(stream).then((body) => {
        stream.respond({ ":status": 200 });
        stream.end(body);
      });
    });
    const { connection, socket } = await open(port);
    // The SETTINGS exchange first, so the next stream starts at once.
    expect((await request(connection, "/warm", Buffer.from("warm"))).end).toEqual({ kind: "ended" });

    // What each socket write carried, as frames (the writes still go to the real socket).
    const writes: Array<Array<{ type: number; flags: number; stream: number }>> = [];
    const write = socket.write.bind(socket) as (chunk: Buffer) => boolean;
    socket.write = ((chunk: Buffer) => {
      const frames: Array<{ type: number; flags: number; stream: number }> = [];
      new FrameReader(1 << 20).push(Buffer.from(chunk), (type, flags, stream) => frames.push({ type, flags, stream }));
      writes.push(frames);
      return write(chunk);
    }) as typeof socket.write;

    const body = Buffer.from("the whole request");
    const chunks: Buffer[] = [];
    const end = await new Promise<StreamEnd>((resolve) => {
      const stream = connection.openStream([[":method", "POST"], [":scheme", "http"], [":path", "/whole"], [":authority", "test"]], {
        onHeaders: () => undefined,
        onData: (data) => {
          chunks.push(Buffer.from(data));
          stream.consumed(data.length);
        },
        onEnd: resolve,
      }, body);
    });
    expect(end).toEqual({ kind: "ended" });
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    const opened = writes.filter((frames) => frames.some((f) => f.type === FrameType.HEADERS));
    expect(opened).toHaveLength(1);
    const id = opened[0]!.find((f) => f.type === FrameType.HEADERS)!.stream;
    expect(opened[0]!.filter((f) => f.stream === id).map((f) => [f.type, f.flags & Flags.END_STREAM])).toEqual([
      [FrameType.HEADERS, 0],
      [FrameType.DATA, Flags.END_STREAM],
    ]);
    // Nothing else of the stream's went out in a write of its own.
    expect(writes.filter((frames) => frames.some((f) => f.stream === id))).toHaveLength(1);
  });
});

describe("FrameConnection against a peer that breaks the protocol", () => {
  async function rawPeer(onData: (socket: Socket, chunk: Buffer) => void): Promise<number> {
    const server: TcpServer = createTcpServer((socket) => socket.on("data", (chunk: Buffer) => onData(socket, chunk)));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return (server.address() as AddressInfo).port;
  }
  const settingsFrame = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

  /**
   * A peer that speaks frames: it skips the client preface, sends `settings` first, answers
   * PINGs, and hands every other frame the client sends to `onFrame`.
   */
  async function framePeer(settings: Buffer, onFrame: (socket: Socket, type: number, flags: number, stream: number, payload: Buffer) => void): Promise<{ port: number; socket: () => Socket }> {
    let peer!: Socket;
    const reader = new FrameReader(1 << 20);
    let sawPreface = false;
    const port = await rawPeer((socket, chunk) => {
      peer = socket;
      let bytes = chunk;
      if (!sawPreface) {
        sawPreface = true;
        bytes = chunk.subarray(24);
        socket.write(settings);
      }
      reader.push(bytes, (type, flags, stream, payload) => {
        if (type === FrameType.PING && (flags & Flags.ACK) === 0) socket.write(encodeFrame(FrameType.PING, Flags.ACK, 0, payload));
        else onFrame(socket, type, flags, stream, payload);
      });
    });
    return { port, socket: () => peer };
  }

  it("sends DATA only within the window the peer gives: a stream's, then what its WINDOW_UPDATE adds", async () => {
    let dataReceived = 0;
    const atWindow = deferred();
    const allIn = deferred();
    // SETTINGS: INITIAL_WINDOW_SIZE 1000 (the connection's window stays 65,535).
    const { port, socket } = await framePeer(Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0x03, 0xe8]), (_socket, type, _flags, stream, payload) => {
      if (type !== FrameType.DATA || stream !== 1) return;
      dataReceived += payload.length;
      if (dataReceived >= 1000) atWindow.resolve();
      if (dataReceived >= 5000) allIn.resolve();
    });
    const { connection } = await open(port);
    await connection.ping(); // the peer's SETTINGS has been applied
    void request(connection, "/", Buffer.alloc(5000, 7));
    await atWindow.promise;
    await connection.ping(); // anything sent before the PING has arrived by its ACK
    expect(dataReceived).toBe(1000);
    socket().write(windowUpdateFrame(1, 4000));
    await allIn.promise;
    await connection.ping();
    expect(dataReceived).toBe(5000);
  });

  /** A peer that answers stream 1 with `:status 200` and then whatever the test writes on its socket. */
  async function answeringPeer(): Promise<{ port: number; answered: Promise<void>; socket: () => Socket }> {
    const answered = deferred();
    const { port, socket } = await framePeer(settingsFrame, (peer, type, _flags, stream) => {
      if (type !== FrameType.HEADERS || stream !== 1) return;
      peer.write(encodeFrame(FrameType.HEADERS, Flags.END_HEADERS, 1, Buffer.from([0x88]))); // :status 200 (static index 8)
      answered.resolve();
    });
    return { port, answered: answered.promise, socket };
  }

  it("reads a padded DATA frame that comes over several socket reads: each piece's data as it comes, without the padding, then the stream's end", async () => {
    const { port, answered, socket } = await answeringPeer();
    const { connection } = await open(port);
    await connection.ping();
    // The next part is written once the last one's data has been handed on, so each is read on its own.
    let handedOn = deferred();
    let expected = 0;
    const answer = request(connection, "/", undefined, [], true, (received) => {
      if (received >= expected) handedOn.resolve();
    });
    await answered;
    const payload = Buffer.concat([Buffer.from([5]), Buffer.from("hello pieces"), Buffer.alloc(5)]);
    const frame = encodeFrame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, payload);
    // The header, the pad length and "hel"; "lo piece"; "s" and the padding.
    for (const [from, to, received] of [[0, 13, 3], [13, 21, 11]] as const) {
      handedOn = deferred();
      expected = received;
      socket().write(frame.subarray(from, to));
      await handedOn.promise;
    }
    socket().write(frame.subarray(21));
    const done = await answer;
    expect(done.data.toString()).toBe("hello pieces");
    expect(done.end).toEqual({ kind: "ended" });
  });

  it("fails the connection for a DATA frame over several reads whose padding is longer than the frame", async () => {
    const { port, answered, socket } = await answeringPeer();
    const { connection, closed } = await open(port);
    await connection.ping();
    const answer = request(connection, "/", undefined);
    await answered;
    const frame = encodeFrame(FrameType.DATA, Flags.PADDED, 1, Buffer.concat([Buffer.from([18]), Buffer.alloc(17)]));
    socket().write(frame.subarray(0, 12));
    expect((await answer).end).toMatchObject({ kind: "connection" });
    expect((await closed)?.message).toMatch(/DATA padding longer than the frame/);
  });

  it("ends every stream and sends GOAWAY for a frame over the size it allows", async () => {
    const received: Buffer[] = [];
    const port = await rawPeer((socket, chunk) => {
      received.push(chunk);
      if (received.length === 1) socket.write(Buffer.concat([settingsFrame, Buffer.from([0x01, 0x00, 0x00, 0, 0, 0, 0, 0, 1])]));
    });
    const { connection, closed } = await open(port);
    const answer = await request(connection, "/", undefined);
    expect(answer.end).toMatchObject({ kind: "connection", refused: false });
    const error = await closed;
    expect(error?.message).toMatch(/frame over the 16384 allowed/);
  });

  it("names a peer that answers in HTTP/1", async () => {
    const port = await rawPeer((socket) => socket.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
    const { connection, closed } = await open(port);
    const answer = await request(connection, "/", undefined);
    expect(answer.end).toMatchObject({ kind: "connection" });
    expect(await closed).toMatchObject({ code: "HTTP2_FRAMES_NOT_HTTP2" });
  });

  it("treats an HPACK error as a connection error", async () => {
    const port = await rawPeer((socket, chunk) => {
      if (chunk.includes(Buffer.from("PRI * HTTP/2.0"))) {
        // HEADERS on stream 1 with END_HEADERS whose block is index 0 (invalid).
        socket.write(Buffer.concat([settingsFrame, Buffer.from([0, 0, 1, 1, 4, 0, 0, 0, 1, 0x80])]));
      }
    });
    const { connection, closed } = await open(port);
    const answer = await request(connection, "/", undefined);
    expect(answer.end).toMatchObject({ kind: "connection" });
    expect((await closed)?.message).toMatch(/HPACK: index 0/);
  });
});
