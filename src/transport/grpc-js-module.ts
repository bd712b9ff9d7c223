/**
 * @grpc/grpc-js, loaded the first time a grpc-js transport needs it rather than when the SDK is
 * imported: the cache's default transport does not use it, and loading it costs ~65 modules, ~20 ms
 * and a few MB of a process's memory. It is a CommonJS package, so it loads synchronously (`require`)
 * on every supported Node version; an application that also imports it shares the same instance
 * (Node keeps one module cache for both).
 */
import { createRequire } from "node:module";
import type * as GrpcJs from "@grpc/grpc-js";

let loaded: typeof GrpcJs | undefined;

/** The @grpc/grpc-js module (loaded on the first call). */
export function grpcJs(): typeof GrpcJs {
  return (loaded ??= createRequire(import.meta.url)("@grpc/grpc-js") as typeof GrpcJs);
}
