import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/**
 * Runs the built `eventor` command as a user would. It runs in a fresh folder (flows without a
 * store keep their runs in `.eventor/` there); paths are taken from the project folder.
 */
export function eventor(...args: string[]) {
  const cwd = mkdtempSync(join(tmpdir(), 'eventor-cli-'));
  const resolved = args.map((arg) => (/^(examples|test)\//.test(arg) ? join(root, arg) : arg));
  const result = spawnSync(process.execPath, [cli, ...resolved], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, cwd };
}

/** Matches one log line of a task in the seed's layout: `[ time ][ host ][ Task-step(sequence) ][ LEVEL ][ message`. */
export function taskLine(step: string, sequence: string, message: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} \\]\\[ [^\\]]+ \\]\\[ Task-${escape(step)}\\(${escape(sequence)}\\) \\]\\[ [A-Z]+ \\]\\[ ${escape(message)}`, 'm');
}
