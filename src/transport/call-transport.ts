/**
 * A Connect `Transport` around a function that starts calls on some gRPC carrier, so the
 * generated Connect clients (`createClient(DataBrokerService, transport)`) stay the API whatever
 * moves the bytes. Connect interceptors run as with any Connect transport: per call, first
 * interceptor outermost, so the JWT interceptor signs a fresh token per call and per stream.
 *
 * Unary calls without a timeout all go through one chain of the interceptors, applied once
 * (Connect's runUnaryCall applies them per call), each under its call signal (call-signal.ts:
 * an AbortSignal built only if read); a call with a timeout gets a chain of its own, as the
 * carrier sends the timeout on the wire. A unary response's header and trailer objects are
 * likewise built only if read.
 * Streaming calls run under Connect's runStreamingCall.
 */
import {
  create,
  isMessage,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  createContextValues,
  type ContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMethodUrl, runStreamingCall } from "@connectrpc/connect/protocol";
import type { CallMessages } from "./call-messages.js";
import { CALL_SIGNAL, createCallSignal, type CallSignal } from "./call-signal.js";
import { chainInterceptors } from "./interceptor-chain.js";
import { requestEncoderFor } from "./put-request-encoder.js";

/**
 * Starts one call on the wire, after the interceptors ran. A unary request's one message comes
 * already encoded (`unaryBody`: encoded once here, before the carrier opens anything, so a message
 * that does not encode fails the call with nothing sent); the carrier sends it and half-closes. A
 * streaming request (`unaryBody` undefined) has its messages sent as the carrier accepts them,
 * then it is half-closed. `timeoutMs` (if any) is the call's deadline, to send on the wire; the
 * call's own signal (`req.signal`) cancels it.
 */
export type StartCall = <I extends DescMessage, O extends DescMessage>(
  req: UnaryRequest<I, O> | StreamRequest<I, O>,
  timeoutMs: number | undefined,
  unaryBody: Uint8Array | undefined,
) => CallMessages<O> | Promise<CallMessages<O>>;

/** A method's gRPC path, `/package.Service/Method` (the HTTP/2 `:path`). */
export function grpcMethodPath(method: DescMethodUnary | DescMethodStreaming): string {
  return `/${method.parent.typeName}/${method.name}`;
}

/** Connect's convention: undefined means none, and so does zero or less. */
function effectiveTimeout(timeoutMs: number | undefined): number | undefined {
  return timeoutMs === undefined || timeoutMs <= 0 ? undefined : timeoutMs;
}

export function createCallTransport(baseUrl: string, interceptorList: readonly Interceptor[] | undefined, start: StartCall): Transport {
  const interceptors = [...(interceptorList ?? [])];

  /** Runs a unary call on the wire; the interceptors sit in front of it. */
  const sendUnary = async <I extends DescMessage, O extends DescMessage>(req: UnaryRequest<I, O>, timeoutMs: number | undefined): Promise<UnaryResponse<I, O>> => {
    const method = req.method;
    const call = await start(req, timeoutMs, requestEncoderFor(method)(req.message));
    await call.headers;
    let message: UnaryResponse<I, O>["message"] | undefined;
    for (let r = await call.next(); r.done !== true; r = await call.next()) {
      if (message !== undefined) {
        call.fail(new ConnectError("protocol error: received extra output message for unary method", Code.Unimplemented));
      }
      message = r.value;
    }
    if (message === undefined) throw new ConnectError("protocol error: missing output message for unary method", Code.Unimplemented);
    // The header and trailer objects are built only if someone reads them (call-messages.ts).
    return {
      stream: false,
      service: method.parent,
      method,
      get header() {
        return call.header;
      },
      message,
      get trailer() {
        return call.trailer;
      },
    };
  };
  /** Each method's URL, built once. */
  const methodUrls = new Map<DescMethodUnary | DescMethodStreaming, string>();
  const methodUrl = (method: DescMethodUnary | DescMethodStreaming): string => {
    let url = methodUrls.get(method);
    if (url === undefined) {
      url = createMethodUrl(baseUrl, method);
      methodUrls.set(method, url);
    }
    return url;
  };
  /** What a unary and a streaming request share: the method, its URL, headers and context values. */
  const requestBase = <M extends DescMethodUnary | DescMethodStreaming>(method: M, header: ConstructorParameters<typeof Headers>[0], contextValues: ContextValues | undefined) => ({
    service: method.parent,
    method,
    requestMethod: "POST" as const,
    url: methodUrl(method),
    header: new Headers(header),
    contextValues: contextValues ?? createContextValues(),
  });
  const untimedChain = chainInterceptors<UnaryRequest, UnaryResponse>((req) => sendUnary(req, undefined), interceptors);

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0],
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const timeout = effectiveTimeout(timeoutMs);
      const callSignal = createCallSignal(signal, timeout);
      const req: UnaryRequest<I, O> & { readonly [CALL_SIGNAL]: CallSignal } = {
        ...requestBase(method, header, contextValues),
        stream: false,
        message: isMessage(input, method.input) ? input : create(method.input, input),
        // Built only if someone reads it; our carriers watch the call signal itself (call-signal.ts).
        get signal() {
          return callSignal.signal;
        },
        [CALL_SIGNAL]: callSignal,
      };
      const chain = timeout === undefined ? untimedChain : chainInterceptors<UnaryRequest, UnaryResponse>((r) => sendUnary(r, timeout), interceptors);
      try {
        const response = (await chain(req)) as UnaryResponse<I, O>;
        callSignal.finish();
        return response;
      } catch (e) {
        throw callSignal.fail(e);
      }
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: ConstructorParameters<typeof Headers>[0],
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      const timeout = effectiveTimeout(timeoutMs);
      return runStreamingCall<I, O>({
        interceptors,
        signal,
        timeoutMs: timeout,
        req: { ...requestBase(method, header, contextValues), stream: true, message: input },
        next: async (req) => {
          const call = await start(req, timeout, undefined);
          await call.headers;
          return {
            stream: true,
            service: method.parent,
            method,
            header: call.header,
            trailer: call.trailer,
            message: { [Symbol.asyncIterator]: () => call },
          };
        },
      });
    },
  };
}
