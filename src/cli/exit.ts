/** Commands set `code` to report a non-zero exit without throwing (e.g. a failed gate: 1). */
export class ExitCode {
  code = 0;
}
