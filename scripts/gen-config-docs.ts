// Writes docs/config.md from the config schema (src/builder/config-docs.ts).
import { writeFileSync } from "node:fs";
import { renderConfigDocs } from "../src/builder/config-docs.ts";

writeFileSync(new URL("../docs/config.md", import.meta.url), renderConfigDocs());
console.log("wrote docs/config.md");
