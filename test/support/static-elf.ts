/** Tiny static hello executables; they live in src/oci/testing so src-side test suites can use them too. */
export { staticHello, writeStaticHello } from "../../src/oci/testing/static-elf.ts";
