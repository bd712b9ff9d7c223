/**
 * Runs a block of contract tests once per target, titles prefixed with the target name.
 *
 * Each test starts from a reset server (no records, no history, default options) and gets fresh
 * clients over a fresh HTTP/2 session, closed after the test.
 */
import { afterAll, afterEach, beforeEach, describe } from "vitest";

import { connectClients, type CheckpointClient, type ClientSet, type DataBrokerClient } from "./clients.js";
import type { ConformanceTarget } from "./target.js";
import { conformanceTargets } from "./targets.js";

/** Loads every target once per test file and closes them after the file. */
export async function loadTargets(): Promise<ConformanceTarget[]> {
  const targets = await conformanceTargets();
  afterAll(async () => {
    await Promise.all(targets.map((t) => t.close()));
  });
  return targets;
}

/** What a test body sees: the target and live clients for the current test. */
export interface TargetContext {
  readonly target: ConformanceTarget;
  /** DataBrokerService client signing valid JWTs. */
  readonly db: DataBrokerClient;
  readonly checkpoints: CheckpointClient;
  /** Extra clients opened by the test (closed after it). */
  clients(factory: () => ClientSet): ClientSet;
}

export function describeTargets(
  targets: readonly ConformanceTarget[],
  title: string,
  body: (ctx: TargetContext) => void,
): void {
  for (const target of targets) {
    describe(`${target.name}: ${title}`, () => {
      let main: ClientSet | undefined;
      const extra: ClientSet[] = [];
      const ctx: TargetContext = {
        target,
        get db() {
          if (main === undefined) throw new Error("clients are only available inside a test");
          return main.db;
        },
        get checkpoints() {
          if (main === undefined) throw new Error("clients are only available inside a test");
          return main.checkpoints;
        },
        clients(factory) {
          const set = factory();
          extra.push(set);
          return set;
        },
      };
      beforeEach(async () => {
        await target.reset();
        main = connectClients(target);
      });
      afterEach(() => {
        main?.close();
        main = undefined;
        for (const set of extra.splice(0)) set.close();
      });
      body(ctx);
    });
  }
}
