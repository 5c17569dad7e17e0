/** Exit code of a run whose request or file failed. */
export const EXIT_ERROR = 1;
/** Exit code of a wrong command line (unknown command, missing flag, bad value). */
export const EXIT_USAGE = 2;

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. Never carries the token. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A usage error (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}
