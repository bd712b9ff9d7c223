import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests talk to real servers over loopback sockets; give them room on a shared 2-core box.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
