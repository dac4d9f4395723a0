#!/usr/bin/env node
// Published entry point; the CLI itself lives in src/cli (compiled to dist/cli).
import "../dist/cli/bin.js";
