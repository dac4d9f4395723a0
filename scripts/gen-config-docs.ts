// Writes docs/config.md from the config schema (src/build/config-docs.ts).
import { writeFileSync } from "node:fs";
import { renderConfigDocs } from "../src/build/config-docs.ts";

writeFileSync(new URL("../docs/config.md", import.meta.url), renderConfigDocs());
console.log("wrote docs/config.md");
