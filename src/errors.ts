/**
 * One error type for everything a user can cause or meet. The CLI maps `exitCode`
 * to the process exit code (2 usage, 1 failure) and prints `message` as one line;
 * nothing below the CLI calls process.exit.
 */
export class AotpackError extends Error {
  readonly exitCode: 1 | 2;
  /** Optional advice printed after the message, e.g. which package to install. */
  readonly hint: string | undefined;
  constructor(message: string, options: { exitCode?: 1 | 2; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AotpackError";
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** Bad flags, arguments or config: exit code 2. */
export class UsageError extends AotpackError {
  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { ...options, exitCode: 2 });
    this.name = "UsageError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
