/** Runs the CLI from the sources (`node --import tsx test/helpers/cli-entry.ts <args>`), for tests that need a real process (a pseudo-terminal, exit codes, stdio) without building dist/. */
import { run } from '../../src/cli/main.js';

await run();
