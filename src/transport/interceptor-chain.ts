/**
 * Connect interceptors wrapped around a call function, first interceptor outermost (the order
 * Connect's transports apply them in). The result can be reused for any number of calls.
 */
import type { Interceptor, UnaryRequest, UnaryResponse } from "@connectrpc/connect";

type UnaryFn<Req extends UnaryRequest, Res extends UnaryResponse> = (req: Req) => Promise<Res>;

export function chainInterceptors<Req extends UnaryRequest, Res extends UnaryResponse>(
  next: UnaryFn<Req, Res>,
  interceptors: readonly Interceptor[],
): UnaryFn<Req, Res> {
  let chained = next as unknown as (req: UnaryRequest) => Promise<UnaryResponse>;
  for (let i = interceptors.length - 1; i >= 0; i--) chained = (interceptors[i] as Interceptor)(chained as never) as typeof chained;
  return chained as unknown as UnaryFn<Req, Res>;
}
