import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

const made: string[] = [];
// Tests read what a command left in its folder after it returns: the folders go when the test file's process ends.
process.on('exit', () => {
  for (const folder of made) rmSync(folder, { recursive: true, force: true });
});

/** A fresh folder for a command to run in, removed when this process ends. */
export function scratchFolder(prefix: string): string {
  const folder = mkdtempSync(join(tmpdir(), prefix));
  made.push(folder);
  return folder;
}

/**
 * Runs the built `eventor` command as a user would. It runs in a fresh folder (flows without a
 * store keep their runs in `.eventor/` there); paths are taken from the project folder.
 */
export function eventor(...args: string[]) {
  const cwd = scratchFolder('eventor-cli-');
  const resolved = args.map((arg) => (/^(examples|test)\//.test(arg) ? join(root, arg) : arg));
  const result = spawnSync(process.execPath, [cli, ...resolved], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, cwd };
}

/** Matches one log line of a task in the seed's layout: `[ time ][ host ][ Task-step(sequence) ][ LEVEL ][ message`. */
export function taskLine(step: string, sequence: string, message: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} \\]\\[ [^\\]]+ \\]\\[ Task-${escape(step)}\\(${escape(sequence)}\\) \\]\\[ [A-Z]+ \\]\\[ ${escape(message)}`, 'm');
}
