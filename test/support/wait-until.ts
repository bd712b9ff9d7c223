/** Waiting helpers shared by the tests: each polls a predicate, none waits a fixed time. */

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls every 5 ms until `predicate` holds; fails with `what` after the timeout. */
export function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return untilAsync(() => Promise.resolve(predicate()), what, timeoutMs);
}

/** Like {@link until}, for a predicate that has to ask something (a database, a server). */
export async function untilAsync(predicate: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
