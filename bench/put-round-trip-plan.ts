/**
 * How the main bench times the sequential Put round trip, the same on both sides (the Go side
 * repeats these numbers in bench/go-syncquerier/main.go): the client's first `coldCalls` Puts are
 * timed as the cold figure; `warmUpCalls` more are made untimed; the next `warmCalls` are timed as
 * the warm figure, the one the target compares. A JIT-compiled client runs its first calls in the
 * interpreter and baseline tiers: the cold figure measures that, the warm one the client a
 * long-running service calls from then on. Go's client is compiled ahead of time, so its two
 * figures differ only by what the connection and the server learn in the first calls.
 */
export const PUT_ROUND_TRIP_PLAN = { coldCalls: 200, warmUpCalls: 800, warmCalls: 200 } as const;
