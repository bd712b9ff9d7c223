/**
 * Interop tests need the Pomerium peer (and sometimes PostgreSQL). When this machine cannot
 * provide them, a test file fails with a message that says how to fix it, rather than being
 * skipped silently: a run without the peer must not look green.
 */
import { ensurePomeriumBinary, PomeriumUnavailableError } from "../support/pomerium-harness.js";

export async function requirePomeriumOrExplain(): Promise<void> {
  try {
    await ensurePomeriumBinary();
  } catch (err) {
    if (err instanceof PomeriumUnavailableError) {
      throw new Error(`${err.message}\nThe interop tests need Go >= 1.26 and network access to proxy.golang.org: run .ci/interop-setup.sh`);
    }
    throw err;
  }
}
