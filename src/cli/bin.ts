// The process entry: run the CLI and turn its result into the exit code.
// stdout/stderr are synchronous for files and pipes on Linux, so exiting here loses no output.
import { main } from "./main.ts";

process.exit(await main(process.argv.slice(2)));
