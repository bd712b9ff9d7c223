import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli, startCli } from "./cli-process.js";

function tempFile(name: string, contents: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "cli-test-")), name);
  writeFileSync(file, contents);
  return file;
}

describe("databroker-cache demo", () => {
  it("demo --once seeds users and sessions, prints a per-type summary, syncs the cache and prints one status line", async () => {
    const { code, stdout, stderr } = await cli("demo", "--once", "--users", "7", "--sessions", "42");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    expect(stdout).toMatch(/server version: +[1-9]\d*/);
    // 7 users + 42 sessions, one version each: the latest record version is 49.
    expect(stdout).toMatch(/latest 49\b/);
    expect(stdout).toMatch(/type\.googleapis\.com\/session\.Session +42 records/);
    expect(stdout).toMatch(/type\.googleapis\.com\/user\.User +7 records/);
    expect(stdout).toMatch(/initial sync \[#+\] 100% 49\/49/);
    expect(stdout).toMatch(/^status .*session\.Session=42 user\.User=7 .*record_version=49\/49 lag=0/m);
    // The random secret lived only as long as the demo.
    const secretFile = stdout.match(/shared secret file: (\S+)/)?.[1];
    expect(secretFile).toMatch(/shared-secret$/);
    expect(existsSync(secretFile!)).toBe(false);
  });

  it("demo shows a live status with changes from the writer and lookups from the read loop, then stops after --duration-ms", async () => {
    const { code, stdout, stderr } = await cli("demo", "--users", "5", "--sessions", "50", "--duration-ms", "3000", "--interval-ms", "500");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/cache ready: first snapshots loaded in/);
    const lines = stdout.split("\n").filter((l) => l.startsWith("status "));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const last = lines[lines.length - 1]!;
    expect(Number(last.match(/changes\/s=([\d.,]+)/)?.[1]?.replace(/,/g, ""))).toBeGreaterThan(0);
    expect(Number(last.match(/lookups\/s=([\d.,]+)/)?.[1]?.replace(/,/g, ""))).toBeGreaterThan(0);
    expect(last).toMatch(/reconnects=0 rss=\d+MB heap=\d+MB/);
    expect(last).toMatch(/sign_ins=[1-9]\d* refreshes=[1-9]\d* sign_outs=[1-9]\d* expiries=\d+/);
    expect(stdout).toMatch(/stopped: cache closed, databroker closed\n$/);
  });

  it("Ctrl-C (SIGINT) during the live status closes everything and exits 0", async () => {
    const demo = startCli("demo", "--users", "5", "--sessions", "20", "--interval-ms", "200");
    await demo.waitForOutput(/^status /m);
    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    expect(demo.stdout()).toMatch(/stopped: cache closed, databroker closed\n$/);
    expect(demo.stderr()).toBe("");
  });
});

describe("databroker-cache user errors: one line, exit 2, no stack trace", () => {
  it("a bad flag value names the flag", async () => {
    const { code, stdout, stderr } = await cli("demo", "--sessions", "many");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("--sessions must be a non-negative integer");
  });

  it("an unknown flag is named, with the command's help to run", async () => {
    expect(await oneLineUsageError("serve", "--prot", "1")).toBe("unknown flag '--prot' for 'serve'; run 'databroker-cache serve --help'");
    expect(await oneLineUsageError("get", "session", "s1", "-x")).toBe("unknown flag '-x' for 'get'; run 'databroker-cache get --help'");
  });

  it("an argument a command does not take is named", async () => {
    expect(await oneLineUsageError("serve", "extra")).toBe(`unexpected argument "extra"; expected 'databroker-cache serve [flags]'`);
  });

  it("an unknown command points to help", async () => {
    const { code, stderr } = await cli("frobnicate");
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`databroker-cache: unknown command "frobnicate"; run 'databroker-cache help'`);
  });

  it("serve with a malformed secret file says what to fix without echoing the secret", async () => {
    const file = tempFile("secret", "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0\n");
    const { code, stdout, stderr } = await cli("serve", "--shared-secret-file", file);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("contains whitespace");
    expect(stderr).not.toContain("c2VjcmV0");
  });

  it("an unreadable secret file is named with the reason", async () => {
    const { code, stderr } = await cli("get", "session", "s1", "--url", "http://127.0.0.1:1", "--shared-secret-file", "/nonexistent/secret");
    expect(code).toBe(2);
    expect(stderr.trim()).toBe("databroker-cache: cannot read shared secret file /nonexistent/secret: ENOENT");
  });

  it("a missing --url says what to give", async () => {
    const { code, stderr } = await cli("query", "session", "--shared-secret-file", "/x");
    expect(code).toBe(2);
    expect(stderr).toMatch(/^databroker-cache: --url is required: the databroker's URL/);
  });

  it("a URL with the wrong scheme is refused before connecting", async () => {
    const { code, stderr } = await cli("get", "user", "u", "--url", "grpc://localhost:5443", "--shared-secret-file", "/x");
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`databroker-cache: --url "grpc://localhost:5443" must start with http:// (h2c) or https://`);
  });

  it("an unreadable or non-PEM --ca-file is named", async () => {
    const secret = tempFile("secret", Buffer.alloc(32, 7).toString("base64"));
    const missing = await cli("get", "user", "u", "--url", "https://127.0.0.1:1", "--shared-secret-file", secret, "--ca-file", "/nonexistent/ca.pem");
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe("databroker-cache: cannot read CA file /nonexistent/ca.pem: ENOENT");
    const notPem = await cli("get", "user", "u", "--url", "https://127.0.0.1:1", "--shared-secret-file", secret, "--ca-file", secret);
    expect(notPem.code).toBe(2);
    expect(notPem.stderr).toContain("holds no PEM certificate");
    expect(notPem.stderr).not.toContain(Buffer.alloc(32, 7).toString("base64"));
  });

  it("get without an id shows the expected form", async () => {
    const { code, stderr } = await cli("get", "session", "--url", "http://127.0.0.1:1", "--shared-secret-file", "/x");
    expect(code).toBe(2);
    expect(stderr.trim()).toBe("databroker-cache: expected 'get session|user|TYPE ID'");
  });

  it("a port already in use is named with the flag to change", async () => {
    const { createServer } = await import("node:net");
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const port = String((busy.address() as { port: number }).port);
    try {
      const { code, stderr } = await cli("demo", "--once", "--port", port);
      expect(code).toBe(2);
      expect(stderr.trim()).toBe(`databroker-cache: cannot listen on 127.0.0.1:${port} (EADDRINUSE): choose another --port`);
    } finally {
      busy.close();
    }
  });

  it("serve --storage other than memory is refused", async () => {
    const { code, stderr } = await cli("serve", "--storage", "postgres");
    expect(code).toBe(2);
    expect(stderr).toContain(`--storage "postgres" is not available`);
  });
});

/** A user error: nothing on stdout, exactly one line on stderr (returned without the prefix), exit 2. */
async function oneLineUsageError(...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await cli(...args);
  expect(stdout, "stdout").toBe("");
  const lines = stderr.trimEnd().split("\n");
  expect(lines, `stderr of ${args.join(" ")}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^databroker-cache: /);
  expect(code, `exit code of ${args.join(" ")}`).toBe(2);
  return lines[0]!.slice("databroker-cache: ".length);
}

describe("out-of-range and malformed flag values: one line naming the flag and what it accepts, exit 2", () => {
  it.each([
    [["serve", "--port", "70000"], `--port must be an integer from 0 to 65535 (0: any free port), got "70000"`],
    [["demo", "--port", "99999999"], `--port must be an integer from 0 to 65535 (0: any free port), got "99999999"`],
    [["demo", "--users", "-1"], `--users must be a non-negative integer, got "-1"`],
    [["query", "session", "--limit", "-1"], `--limit must be a non-negative integer, got "-1"`],
    [["query", "session", "--offset=-5"], `--offset must be a non-negative integer, got "-5"`],
    // Node's timers fire at once for a delay past 2^31 - 1 ms: this once ended the server at start.
    [["serve", "--duration-ms", "3000000000"], `--duration-ms must be an integer number of milliseconds from 1 to 2147483647, got "3000000000"`],
    [["demo", "--interval-ms", "0"], `--interval-ms must be an integer number of milliseconds from 1 to 2147483647, got "0"`],
    [["demo", "--writes-per-second", "0"], `--writes-per-second must be a positive integer, got "0"`],
  ])("%j", async (args, message) => {
    expect(await oneLineUsageError(...args)).toBe(message);
  });

  it("a --host that does not resolve names the flag and what to give", async () => {
    expect(await oneLineUsageError("serve", "--host", "999.1.1.1")).toMatch(
      /^--host "999\.1\.1\.1" does not resolve to an address \(E[A-Z_]+\): give an IP address or a name of this machine, e\.g\. 127\.0\.0\.1/,
    );
  });

  it("a flag without its value, or followed by another flag, says it needs a value", async () => {
    expect(await oneLineUsageError("query", "session", "--limit")).toBe("--limit needs a value; run 'databroker-cache query --help'");
    expect(await oneLineUsageError("demo", "--users", "--once")).toBe(
      `--users needs a value, got the flag "--once" (for a value that starts with '-', write --users=VALUE)`,
    );
    expect(await oneLineUsageError("demo", "--once=yes")).toBe(`--once takes no value, got "yes"`);
  });
});

describe("help", () => {
  const COMMANDS: Record<string, string[]> = {
    demo: ["--users", "--sessions", "--port", "--writes-per-second", "--lookups-per-second", "--interval-ms", "--duration-ms", "--once"],
    mirror: ["--url", "--shared-secret-file", "--ca-file", "--server-name", "--type", "--interval-ms", "--lookups-per-second", "--ready-timeout-ms", "--duration-ms"],
    get: ["--url", "--shared-secret-file", "--ca-file", "--server-name"],
    query: ["--url", "--shared-secret-file", "--ca-file", "--server-name", "--filter", "--search", "--limit", "--offset"],
    watch: ["--url", "--shared-secret-file", "--ca-file", "--server-name", "--max-batches", "--duration-ms"],
    serve: ["--port", "--host", "--shared-secret-file", "--storage", "--duration-ms"],
  };

  it.each(Object.entries(COMMANDS))("%s --help prints the command's usage and every flag it takes, exit 0", async (command, flags) => {
    const { code, stdout, stderr } = await cli(command, "--help");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^usage: databroker-cache ${command}\\b`));
    for (const flag of [...flags, "--help"]) expect(stdout, `${command} help names ${flag}`).toMatch(new RegExp(`^ +(?:-h, )?${flag}\\b`, "m"));
  });

  it("COMMAND -h and help COMMAND print the same page as COMMAND --help", async () => {
    const page = (await cli("query", "--help")).stdout;
    for (const ask of [["query", "-h"], ["help", "query"]]) {
      const { code, stdout } = await cli(...ask);
      expect(code, ask.join(" ")).toBe(0);
      expect(stdout, ask.join(" ")).toBe(page);
    }
  });

  it("--help wins over other flags, even wrong ones", async () => {
    const { code, stdout } = await cli("serve", "--prot", "1", "--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: databroker-cache serve/);
  });

  it("help, --help and -h print the overview on stdout and exit 0", async () => {
    for (const ask of ["help", "--help", "-h"]) {
      const { code, stdout, stderr } = await cli(ask);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(stdout).toMatch(/^usage: databroker-cache <command> \[flags\]\n/);
    }
  });

  it("no arguments at all print the overview on stderr and exit 2 (a usage error)", async () => {
    const { code, stdout, stderr } = await cli();
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^usage: databroker-cache <command> \[flags\]\n/);
    expect(code).toBe(2);
  });

  it("help for a command that does not exist lists the commands", async () => {
    expect(await oneLineUsageError("help", "frobnicate")).toBe(`no command "frobnicate"; the commands are demo, mirror, get, query, watch, serve`);
  });
});

describe("databroker-cache serve", () => {
  it("serves on the given port until --duration-ms, with the given secret file", async () => {
    const secret = tempFile("secret", Buffer.alloc(32, 7).toString("base64"));
    const { code, stdout, stderr } = await cli("serve", "--shared-secret-file", secret, "--duration-ms", "300");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^in-memory databroker listening on http:\/\/127\.0\.0\.1:\d+\n {2}shared secret file: .*secret\n/);
    expect(stdout).toMatch(/stopped\n$/);
  });
});
