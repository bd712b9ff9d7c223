/**
 * The longest delay a Node timer honours: setTimeout fires a longer one (or Infinity) after 1 ms.
 * Every delay the SDK arms as a timer (timeouts, backoff, the stream refresh, grpc-js's ping
 * timeout) is checked against it, since a longer one would turn into a hot loop.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
