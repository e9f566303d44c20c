import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

/** Runs the built `eventor` command as a user would, from the project folder. */
export function eventor(...args: string[]) {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Matches one log line of a task in the seed's layout. */
export function taskLine(step: string, sequence: string, message: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\[ \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d,\\d{3} \\]\\[ Task-${escape(step)}\\(${escape(sequence)}\\) \\]\\[ [A-Z]+ \\]\\[ ${escape(message)}`, 'm');
}

