/**
 * What an x86_64 host adds to `dotnet publish` for arm64: clang as the cross linker driver, GNU ld, and the
 * aarch64 objcopy for stripping symbols (a property, so the host's objcopy is never replaced). No SysRoot:
 * Debian's cross libc.so is a linker script naming absolute paths, which SysRoot would prefix twice.
 * The NativeAOT compiler (src/compile/dotnet-aot.ts) passes them and `aotpack dockerfile` renders them.
 */
export const ARM64_CROSS_PROPERTIES = ["-p:CppCompilerAndLinker=clang", "-p:LinkerFlavor=bfd", "-p:ObjCopyName=aarch64-linux-gnu-objcopy"] as const;

/**
 * What ASP.NET reads for its port (it ignores PORT): set to the port by `aotpack build` (Artifact.portEnv)
 * and `aotpack dockerfile` alike, as Microsoft's own base images set ASPNETCORE_HTTP_PORTS=8080.
 */
export const DOTNET_PORT_ENV = ["ASPNETCORE_HTTP_PORTS"] as const;
