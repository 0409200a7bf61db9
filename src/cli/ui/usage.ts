/**
 * How the CLI talks about usage: one line per usage error with a pointer to the command's help, every command's help
 * ending with examples and the exit codes, and commander's help without the defaults it would print twice.
 */
import { Help, type Command, type Option } from 'commander';
import { printable, type CliIO } from './io.js';

/** The end of every command's --help. */
export const EXIT_CODES = `
Exit codes: 0 ok, 1 a gate or an operation failed, 2 bad usage or bad input (one line on stderr).`;

/** Examples and the exit codes, for `command.addHelpText('after', ...)`. */
export function helpEpilogue(examples: string[]): string {
  return `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n${EXIT_CODES}`;
}

/** The one line a usage error prints: the message and where to read more. */
export function usageLine(message: string, command: string): string {
  return `autoglm: ${printable(message)} (see '${command} --help')\n`;
}

/** commander's output for a command: help to stdout; its parse errors as one line with a pointer to the help. */
export function outputFor(io: CliIO, command: string) {
  return {
    writeOut: io.out,
    writeErr: io.err,
    outputError: (str: string) => {
      const msg = str
        .replace(/^error:\s*/i, '')
        .replace(/\s*\n\s*/g, ' ')
        .trim();
      io.err(usageLine(msg, command));
    },
  };
}

/**
 * Help text settings (inherited by the commands registered after): commander's `(default: ...)` is left out when it
 * says nothing (an empty list for a repeatable flag) or when the description already states the default.
 */
export function configureUsageHelp(program: Command): void {
  program.configureHelp({
    // --color / --no-color apply to every command: list them in each command's help
    showGlobalOptions: true,
    optionDescription(this: Help, option: Option): string {
      const text = Help.prototype.optionDescription.call(this, option);
      const empty = Array.isArray(option.defaultValue) && option.defaultValue.length === 0;
      if (empty || /\bdefault\b/i.test(option.description)) return text.replace(/ \(default: [^)]*\)$/, '');
      return text;
    },
  });
}
