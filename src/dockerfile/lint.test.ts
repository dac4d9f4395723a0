import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { DockerfileParser } from "dockerfile-ast";
import { formatFindings, LINT_RULES, lintDockerfile, type RuleId } from "./lint.ts";
import { applyEdits, fixDockerfile } from "./fix.ts";

const testdata = fileURLToPath(new URL("./testdata/", import.meta.url));
const rulesDir = join(testdata, "rules");
const read = (path: string) => readFileSync(path, "utf8");
const rulesOf = (text: string, file = "Dockerfile") => lintDockerfile(text, { file }).map((f) => f.rule);

/** Instruction texts, whitespace-normalised, in order. */
function instructions(text: string): string[] {
  return DockerfileParser.parse(text)
    .getInstructions()
    .map((i) => i.toString().replace(/\\\r?\n/g, " ").replace(/\s+/g, " ").trim());
}

interface Piece {
  text: string;
  /** 1-based first and last line. */
  first: number;
  last: number;
}

/** Raw source text of each instruction and comment, exactly as written, in file order. */
function rawPieces(text: string): Piece[] {
  const df = DockerfileParser.parse(text);
  const lines = text.split("\n");
  return [...df.getInstructions(), ...df.getComments()]
    .map((i) => {
      const r = i.getRange();
      const out: string[] = [];
      for (let l = r.start.line; l <= r.end.line; l++) {
        const line = lines[l] ?? "";
        out.push(line.slice(l === r.start.line ? r.start.character : 0, l === r.end.line ? r.end.character : undefined));
      }
      return { text: out.join("\n"), first: r.start.line + 1, last: r.end.line + 1 };
    })
    .sort((x, y) => x.first - y.first);
}

/** Every original instruction/comment that `changed` does not allow to change appears byte-for-byte, in order, in `after`. */
function assertKeepsUntouched(before: string, after: string, changed: (piece: Piece) => boolean): void {
  let from = 0;
  for (const piece of rawPieces(before)) {
    if (changed(piece)) continue;
    const at = after.indexOf(piece.text, from);
    assert.ok(at >= 0, `lost, altered or moved: ${piece.text}\n---\n${after}`);
    from = at + piece.text.length;
  }
}

const ALL_RULES = Object.keys(LINT_RULES) as RuleId[];

test("corpus: every rule has a firing and a clean case", () => {
  const files = new Set(readdirSync(rulesDir));
  for (const rule of ALL_RULES) {
    assert.ok(files.has(`${rule}.fire.Dockerfile`), `${rule}.fire.Dockerfile missing`);
    assert.ok(files.has(`${rule}.clean.Dockerfile`), `${rule}.clean.Dockerfile missing`);
  }
});

for (const rule of ALL_RULES) {
  test(`${rule} fires on its firing case and not on its clean case`, () => {
    const fire = read(join(rulesDir, `${rule}.fire.Dockerfile`));
    const clean = read(join(rulesDir, `${rule}.clean.Dockerfile`));
    const findings = lintDockerfile(fire, { file: `${rule}.fire.Dockerfile` });
    assert.ok(findings.some((f) => f.rule === rule), `${rule} did not fire:\n${formatFindings(findings)}`);
    assert.deepEqual(rulesOf(clean).filter((r) => r === rule), [], `${rule} fired on the clean case`);
    for (const f of findings) {
      assert.ok(f.line >= 1 && f.message.length > 0 && f.fix.length > 0);
      assert.equal(f.file, `${rule}.fire.Dockerfile`);
    }
  });

  test(`${rule}: --fix output passes lint and keeps the other instructions`, () => {
    const fire = read(join(rulesDir, `${rule}.fire.Dockerfile`));
    const { text, applied } = fixDockerfile(fire);
    assert.ok(applied.length > 0, "nothing applied");
    assert.deepEqual(rulesOf(text), [], formatFindings(lintDockerfile(text, { file: "fixed" })));
    const faulty = lintDockerfile(fire, { file: "x" }).map((f) => f.line);
    // Only instructions a finding points at may change, plus the RUNs that AOT004 and AOT006 extend.
    const extendedRun = (p: Piece) => /^RUN (dotnet publish|apt-get update)/.test(p.text);
    assertKeepsUntouched(fire, text, (p) => faulty.some((l) => l >= p.first && l <= p.last) || extendedRun(p));
  });
}

test("the clean cases are clean of every rule", () => {
  for (const rule of ALL_RULES) {
    const clean = read(join(rulesDir, `${rule}.clean.Dockerfile`));
    assert.deepEqual(rulesOf(clean), [], `${rule}.clean.Dockerfile: ${formatFindings(lintDockerfile(clean, { file: rule }))}`);
  }
});

test("the post's Visual Studio Dockerfile: the pitfalls the post hit", () => {
  const vs = read(join(testdata, "vs-generated.Dockerfile"));
  const findings = lintDockerfile(vs, { file: "Dockerfile" });
  const at = findings.map((f) => `${f.rule}@${f.line}`);
  assert.deepEqual(at, [
    "AOT001@16", // FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build: emulated, "exec format error"
    "AOT009@18", // apt-get install clang zlib1g-dev, lists kept
    "AOT003@27", // dotnet build without -a
    "AOT003@32", // dotnet publish without -a
    "AOT009@38", // gdb install in aotdebug, lists kept
    "AOT005@44", // runtime-deps:10.0 (289MB in the post)
    "AOT007@44", // runtime-deps:10.0 runs as root, no USER
    "AOT006@47", // COPY /app/publish brings test.dbg
  ]);
  assert.match(formatFindings(findings).split("\n")[0] as string, /^Dockerfile:16: AOT001 .*exec format error.* \(fix: FROM --platform=\$BUILDPLATFORM/);
});

test("the post's fixed Dockerfile: only what the post left (test.dbg shipped, gdb stage lists kept)", () => {
  const fixed = read(join(testdata, "post-fixed.Dockerfile"));
  assert.deepEqual(
    lintDockerfile(fixed, { file: "Dockerfile" }).map((f) => `${f.rule}@${f.line}`),
    ["AOT009@42", "AOT006@51"],
  );
});

test("--fix turns the VS Dockerfile into the post's fixed one, in substance", () => {
  const vs = read(join(testdata, "vs-generated.Dockerfile"));
  const post = read(join(testdata, "post-fixed.Dockerfile"));
  const { text, applied } = fixDockerfile(vs);
  assert.deepEqual(rulesOf(text), [], formatFindings(lintDockerfile(text, { file: "fixed" })));
  assert.ok(applied.length >= 8, applied.join("\n"));

  const ours = instructions(text);
  // Every instruction of the post's fixed file is in ours; two are extended by fixes the post lacks.
  const extended: Record<string, string> = {
    'RUN dotnet publish "./test.csproj" -c $BUILD_CONFIGURATION -a $TARGETARCH -o /app/publish /p:UseAppHost=true':
      'RUN dotnet publish "./test.csproj" -c $BUILD_CONFIGURATION -a $TARGETARCH -o /app/publish /p:UseAppHost=true && rm -f /app/publish/*.dbg',
    "RUN apt-get update && apt-get install -y --no-install-recommends gdb":
      "RUN apt-get update && apt-get install -y --no-install-recommends gdb && rm -rf /var/lib/apt/lists/*",
  };
  for (const inst of instructions(post)) {
    const want = extended[inst] ?? inst;
    assert.ok(ours.includes(want), `missing from --fix output: ${want}\n---\n${text}`);
  }
  // Order matters where it matters: ARG TARGETARCH before its first use in the build stage,
  // the cross toolchain before the lists are cleared, objcopy switched before publishing.
  const idx = (s: string) => ours.findIndex((i) => i.includes(s));
  assert.ok(idx("ARG TARGETARCH") < idx('if [ "$TARGETARCH" = "arm64" ]; then apt-get install'));
  assert.ok(idx("aarch64-linux-gnu-objcopy") < idx("dotnet publish"));
  const aptRun = ours[idx("gcc-aarch64-linux-gnu")] as string;
  assert.ok(aptRun.indexOf("gcc-aarch64-linux-gnu") < aptRun.indexOf("rm -rf /var/lib/apt/lists/*"));
  assert.match(text, /^FROM --platform=\$BUILDPLATFORM mcr\.microsoft\.com\/dotnet\/sdk:10\.0 AS build$/m);
  assert.match(text, /^FROM \$\{FINAL_BASE_IMAGE:-mcr\.microsoft\.com\/dotnet\/runtime-deps:10\.0-noble-chiseled-extra\} AS final$/m);
  // ARG TARGETARCH once, in the build stage: publish inherits it.
  assert.equal(ours.filter((i) => i === "ARG TARGETARCH").length, 1);

  const touched = [
    "FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build",
    "RUN apt-get update",
    "RUN dotnet build",
    "RUN dotnet publish",
    "FROM ${FINAL_BASE_IMAGE:-",
  ];
  assertKeepsUntouched(vs, text, (piece) => touched.some((t) => piece.text.startsWith(t)));
});

test("--fix with InvariantGlobalization picks the smaller chiseled base", () => {
  const vs = read(join(testdata, "vs-generated.Dockerfile"));
  const { text } = fixDockerfile(vs, { invariantGlobalization: true });
  assert.match(text, /runtime-deps:10\.0-noble-chiseled\} AS final/);
});

test("nativeAot option: a plain dotnet publish is not NativeAOT unless told so", () => {
  const text = [
    "FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build",
    "WORKDIR /src",
    "COPY . .",
    "RUN dotnet publish -c Release -o /app",
    "FROM mcr.microsoft.com/dotnet/aspnet:10.0",
    "COPY --from=build /app .",
    "USER $APP_UID",
    'ENTRYPOINT ["./api"]',
    "",
  ].join("\n");
  assert.deepEqual(rulesOf(text), ["AOT001"]); // JIT app: aspnet is right, no -a needed on the target platform
  const aot = lintDockerfile(text, { file: "Dockerfile", nativeAot: true }).map((f) => f.rule);
  assert.deepEqual(aot, ["AOT001", "AOT003", "AOT005", "AOT006"]);
});

test("AOT002 reports a use before the ARG and each variable once per stage", () => {
  const text = "FROM --platform=$BUILDPLATFORM alpine AS b\nRUN echo $TARGETARCH $TARGETOS\nRUN echo ${TARGETARCH}\nARG TARGETOS\n";
  const f = lintDockerfile(text, { file: "D" }).filter((x) => x.rule === "AOT002");
  assert.deepEqual(f.map((x) => x.message.split(" ")[0]), ["$TARGETARCH", "$TARGETOS"]);
  // FROM lines see the automatic platform ARGs: no finding there.
  assert.deepEqual(rulesOf("FROM --platform=$BUILDPLATFORM alpine:${TARGETARCH}\n").filter((r) => r === "AOT002"), []);
});

test("AOT008 converts simple shell form and leaves complex shell form to the user", () => {
  const simple = fixDockerfile("FROM scratch\nUSER 1:1\nCMD /app/server --port 8080\n").text;
  assert.equal(simple, 'FROM scratch\nUSER 1:1\nCMD ["/app/server","--port","8080"]\n');
  const complex = "FROM scratch\nUSER 1:1\nCMD /app/server --port $PORT\n";
  const result = fixDockerfile(complex);
  assert.equal(result.text, complex);
  assert.deepEqual(rulesOf(result.text), ["AOT008"]);
});

test("AOT001: an explicit $TARGETPLATFORM compile stage is emulated too; a literal platform is deliberate", () => {
  const text = "FROM --platform=$TARGETPLATFORM golang:1.23 AS build\nARG TARGETARCH\nRUN GOARCH=$TARGETARCH go build -o /app .\nFROM scratch\nCOPY --from=build /app /app\nUSER 1:1\nENTRYPOINT [\"/app\"]\n";
  assert.deepEqual(rulesOf(text), ["AOT001"]);
  const { text: fixed } = fixDockerfile(text);
  assert.match(fixed, /^FROM --platform=\$BUILDPLATFORM golang:1\.23 AS build$/m);
  assert.deepEqual(rulesOf(fixed), []);
  assert.deepEqual(rulesOf(text.replace("$TARGETPLATFORM", "linux/amd64")), []);
});

test("heredoc and exec-form RUNs are reported but not rewritten", () => {
  const heredoc = "FROM debian:bookworm-slim\nRUN <<EOF\napt-get update\napt-get install -y --no-install-recommends curl\nEOF\nUSER 1:1\n";
  assert.deepEqual(rulesOf(heredoc), ["AOT009"]);
  assert.equal(fixDockerfile(heredoc).text, heredoc);
});

test("fixes keep CRLF line endings", () => {
  const text = "FROM debian:bookworm-slim\r\nRUN apt-get update && apt-get install -y curl\r\nUSER 1:1\r\n";
  const { text: fixed } = fixDockerfile(text);
  assert.equal(fixed, "FROM debian:bookworm-slim\r\nRUN apt-get update && apt-get install --no-install-recommends -y curl \\\r\n    && rm -rf /var/lib/apt/lists/*\r\nUSER 1:1\r\n");
  assert.deepEqual(rulesOf(fixed), []);
});

test("applyEdits applies later offsets first", () => {
  assert.equal(
    applyEdits("abcdef", [
      { offset: 1, deleteCount: 1, insert: "B" },
      { offset: 4, deleteCount: 0, insert: "-" },
    ]),
    "aBcd-ef",
  );
});

test("an empty or FROM-less file has no findings", () => {
  assert.deepEqual(lintDockerfile("", { file: "D" }), []);
  assert.deepEqual(lintDockerfile("# only a comment\n", { file: "D" }), []);
});
