/**
 * The databrokers the contract suite judges: always our in-memory server (started in-process),
 * then whatever Pomerium databrokers the interop harness provides (test/interop/pomerium-targets.ts).
 *
 * Set CONFORMANCE_TARGETS=ours,pomerium-memory (comma-separated names) to run a subset.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { startInMemoryDatabroker } from "../../src/server/index.js";
import type { ConformanceTarget } from "./target.js";

type InMemoryDatabroker = Awaited<ReturnType<typeof startInMemoryDatabroker>>;

/** A fresh random shared secret: base64 of 32 bytes, as Pomerium requires. */
export function randomSharedSecret(): string {
  return randomBytes(32).toString("base64");
}

/**
 * Our in-memory databroker as a target. reset() restarts it on the same port, so the url stays
 * and the server version changes, like a Pomerium memory databroker restarting.
 */
export async function oursTarget(): Promise<ConformanceTarget> {
  const sharedSecret = randomSharedSecret();
  let server: InMemoryDatabroker = await startInMemoryDatabroker({ sharedSecret, port: 0 });
  const port = server.port;
  const url = server.url;
  return {
    name: "ours",
    url,
    sharedSecret,
    flavour: "memory",
    isOurs: true,
    async reset() {
      await server.close();
      server = await startInMemoryDatabroker({ sharedSecret, port });
    },
    async compact() {
      await server.compactNow();
    },
    async cleanup() {
      await server.cleanupNow();
    },
    async close() {
      await server.close();
    },
  };
}

const POMERIUM_TARGETS_MODULE = new URL("../interop/pomerium-targets.ts", import.meta.url);

/** Pomerium's own databrokers, if the interop harness is present in this checkout. */
async function pomeriumTargetsIfPresent(): Promise<ConformanceTarget[]> {
  if (!existsSync(fileURLToPath(POMERIUM_TARGETS_MODULE))) return [];
  // A computed specifier keeps the type checker from requiring the module to exist.
  const specifier = "../interop/pomerium-targets.js";
  const mod = (await import(/* @vite-ignore */ specifier)) as {
    pomeriumTargets?: () => ConformanceTarget[] | Promise<ConformanceTarget[]>;
  };
  if (typeof mod.pomeriumTargets !== "function") return [];
  return await mod.pomeriumTargets();
}

/** Every target to run the suite against, ours first. */
export async function conformanceTargets(): Promise<ConformanceTarget[]> {
  const wanted = process.env["CONFORMANCE_TARGETS"]?.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const selected = (name: string) => wanted === undefined || wanted.includes(name);
  const targets: ConformanceTarget[] = [];
  if (selected("ours")) targets.push(await oursTarget());
  for (const target of await pomeriumTargetsIfPresent()) {
    if (selected(target.name)) targets.push(target);
    else await target.close();
  }
  return targets;
}
