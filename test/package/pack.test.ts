/**
 * The package as a user gets it: build, `npm pack`, install the tarball into a fresh project
 * (with typescript, from the registry), compile and run a TypeScript program there that embeds
 * the cache against the installed `databroker-cache serve`, and run the installed CLI.
 *
 * Everything happens in a temporary folder: the sources are copied there (without dist/,
 * node_modules and the like), compiled into the copy's dist/ and packed from the copy, so the
 * repository's own dist/ is never touched.
 */
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const REPO = resolve(import.meta.dirname, "../..");
const PACKAGE = "@pomerium-sdk/databroker-cache";
const work = mkdtempSync(join(tmpdir(), "pack-test-"));
const checkout = join(work, "checkout");
const project = join(work, "consumer");
/** Never copied into the checkout: build output, installed or cached things, VCS data. */
const NOT_SOURCES = new Set(["node_modules", "dist", "coverage", ".interop-cache", ".git", "tmp", ".scratch", ".coord"]);
let tarball = "";
let packedFiles: string[] = [];

/** Every file under the repository's dist/ with its size and modification time ("absent" when there is none). */
function repositoryDistState(): string[] {
  const dist = join(REPO, "dist");
  if (!existsSync(dist)) return ["absent"];
  return readdirSync(dist, { recursive: true, encoding: "utf8" })
    .sort()
    .map((file) => {
      const stat = statSync(join(dist, file));
      return `${file} ${stat.size} ${stat.mtimeMs}`;
    });
}
const distBefore = repositoryDistState();

async function run(command: string, args: string[], cwd: string, timeout = 180_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(command, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

/** The README examples and the embedding program, importing the installed package instead of src/. */
function copyWithPackageImport(file: string, to: string): void {
  const text = readFileSync(join(REPO, "test/package", file), "utf8")
    .replaceAll(`"../../src/index.js"`, `"${PACKAGE}"`)
    .replaceAll(`"../../src/testing.js"`, `"${PACKAGE}/testing"`);
  writeFileSync(join(to, file), text);
}

/**
 * The files an ES module loads, following its relative static imports (what tsc emits for our
 * sources: `import ... from "./x.js"` and `export ... from "./x.js"`), as paths under `root`.
 */
function relativeImportGraph(root: string, entry: string): Set<string> {
  const seen = new Set<string>();
  const pending = [join(root, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s*"(\.{1,2}\/[^"]+)"/gms)) {
      pending.push(resolve(dirname(file), match[1]!));
    }
  }
  return new Set([...seen].map((f) => relative(root, f)));
}

beforeAll(async () => {
  // A clean build of today's sources, so the tarball holds exactly what tsc emits now.
  cpSync(REPO, checkout, { recursive: true, filter: (source) => !NOT_SOURCES.has(basename(source)) || dirname(source) !== REPO });
  await run(join(REPO, "node_modules/.bin/tsc"), ["-p", join(REPO, "tsconfig.build.json"), "--outDir", join(checkout, "dist")], REPO);
  const { stdout } = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], checkout);
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, packed!.filename);
  packedFiles = packed!.files.map((f) => f.path);

  mkdirSync(join(project, "src"), { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  // skipLibCheck off: our .d.ts files (and what they pull in) must compile under a user's strict settings.
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out", types: ["node"], skipLibCheck: false },
      include: ["src"],
    }),
  );
  // Only what a user needs: the tarball (its dependencies come along), TypeScript and Node's types.
  await run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball, "typescript@5.9.3", "@types/node@20.19.25"], project);
  copyWithPackageImport("readme-examples.ts", join(project, "src"));
  copyWithPackageImport("embed-program.ts", join(project, "src"));
  copyWithPackageImport("public-type-names.ts", join(project, "src"));
}, 300_000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe("the npm package", () => {
  it("is built and packed in a temporary folder: the repository's own dist/ is left as it was", () => {
    expect(repositoryDistState()).toEqual(distBefore);
  });

  it("packs the compiled library, generated code and .d.ts files, and nothing from test/", () => {
    expect(packedFiles).toContain("dist/src/index.js");
    expect(packedFiles).toContain("dist/src/index.d.ts");
    expect(packedFiles).toContain("dist/src/cli/main.js");
    expect(packedFiles).toContain("dist/gen/databroker/databroker_pb.js");
    expect(packedFiles).toContain("dist/gen/session/session_pb.d.ts");
    expect(packedFiles).toContain("package.json");
    expect(packedFiles.filter((f) => f.startsWith("test/") || f.startsWith("dist/test/") || f.startsWith("src/"))).toEqual([]);
  });

  it("installs without devDependencies: no tsx, and the bin runs compiled JS with a node shebang", () => {
    expect(existsSync(join(project, "node_modules", "tsx"))).toBe(false);
    expect(existsSync(join(project, "node_modules", "@bufbuild", "protobuf"))).toBe(true);
    const bin = readFileSync(join(project, "node_modules", PACKAGE, "dist/src/cli/main.js"), "utf8");
    expect(bin.startsWith("#!/usr/bin/env node\n")).toBe(true);
  });

  it("the root entry does not load the in-memory server; the /testing entry does", () => {
    const installed = join(project, "node_modules", PACKAGE);
    const root = [...relativeImportGraph(installed, "dist/src/index.js")];
    const testing = [...relativeImportGraph(installed, "dist/src/testing.js")];
    expect(root).toContain("dist/src/cache/databroker-cache.js");
    expect(root.filter((f) => f.startsWith("dist/src/server/"))).toEqual([]);
    expect(testing).toContain("dist/src/server/start-in-memory-databroker.js");
  });

  it("exports ./testing: startInMemoryDatabroker loads from the subpath, not from the root", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const root = await import("${PACKAGE}"); const testing = await import("${PACKAGE}/testing");` +
          ` console.log(typeof testing.startInMemoryDatabroker, "startInMemoryDatabroker" in root);`,
      ],
      project,
    );
    expect(stdout.trim()).toBe("function false");
  });

  it("the generated gen/ imports resolve from dist: the public entry loads in plain Node", async () => {
    const { stdout } = await run(
      process.execPath,
      ["--input-type=module", "-e", `const m = await import("${PACKAGE}"); console.log(typeof m.createDatabrokerCache, m.SessionSchema.typeName, m.SESSION_TYPE);`],
      project,
    );
    expect(stdout.trim()).toBe("function session.Session type.googleapis.com/session.Session");
  });

  it("a TypeScript program embedding the cache compiles against the package's types and runs against the installed `serve`", async () => {
    await run(join(project, "node_modules/.bin/tsc"), ["-p", "."], project);
    const secretFile = join(work, "shared-secret");
    writeFileSync(secretFile, Buffer.alloc(32, 9).toString("base64"));
    const serve = spawn(join(project, "node_modules/.bin/databroker-cache"), ["serve", "--shared-secret-file", secretFile], { cwd: project });
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let out = "";
        serve.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = out.match(/listening on (http:\/\/\S+)/);
          if (match) resolveUrl(match[1]!);
        });
        serve.on("exit", (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const { stdout } = await run(process.execPath, ["out/embed-program.js", url, secretFile], project, 60_000);
      expect(stdout).toContain("embed ok");
    } finally {
      serve.kill("SIGINT");
    }
  }, 120_000);

  it("the installed CLI runs the demo: npx databroker-cache demo --once", async () => {
    const { stdout, stderr } = await run("npx", ["--no-install", "databroker-cache", "demo", "--once", "--users", "3", "--sessions", "12"], project, 60_000);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/type\.googleapis\.com\/session\.Session +12 records/);
    expect(stdout).toMatch(/^status .*session\.Session=12 user\.User=3 .*lag=0/m);
  }, 60_000);
});
