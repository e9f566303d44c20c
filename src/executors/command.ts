import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EventorError } from '../model/errors.js';
import { exited, logLines, terminateOnAbort } from './child-process.js';
import { stepEnvironment, throwIfTimedOut, type Executor, type TaskRun } from './executor.js';

/** A program that ended with a non-zero exit code or a signal. */
export class CommandFailedError extends EventorError {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(message);
  }
}

const PLACEHOLDER = /\$\{(sequence|step|env\.([A-Za-z_][A-Za-z0-9_]*))\}/y;

/**
 * Replaces `${sequence}`, `${step}` and `${env.NAME}` in a command with the task's values. The
 * values are data, never code: in a program's arguments each goes in as it is, and in a line
 * for `/bin/sh -c` it is quoted for where it stands (bare, inside "…" or inside '…'), so that a
 * sequence such as `east; touch x` stays one word.
 */
export function fillPlaceholders(command: string | string[], task: TaskRun): string | string[] {
  const env = { ...process.env, ...task.step.env };
  const value = (key: string, name?: string) => (name !== undefined ? (env[name] ?? '') : key === 'sequence' ? task.context.sequence : task.context.name);
  if (Array.isArray(command)) return command.map((part) => part.replace(new RegExp(PLACEHOLDER.source, 'g'), (_, key: string, name?: string) => value(key, name)));
  return fillShellLine(command, value);
}

/** Fills the placeholders of a shell line, each value quoted for the quoting it stands in. */
function fillShellLine(line: string, value: (key: string, name?: string) => string): string {
  let out = '';
  let quote: '' | "'" | '"' = '';
  for (let i = 0; i < line.length; ) {
    PLACEHOLDER.lastIndex = i;
    const match = line[i] === '$' ? PLACEHOLDER.exec(line) : null;
    if (match) {
      const text = value(match[1], match[2]);
      // Inside '…' nothing is special but the closing quote; inside "…" these four are; bare, quote it all.
      out += quote === "'" ? text.replaceAll("'", `'\\''`) : quote === '"' ? text.replace(/[\\"$`]/g, '\\$&') : `'${text.replaceAll("'", `'\\''`)}'`;
      i += match[0].length;
      continue;
    }
    const char = line[i];
    if (char === '\\' && quote !== "'") {
      out += line.slice(i, i + 2);
      i += 2;
      continue;
    }
    if ((char === "'" || char === '"') && (quote === '' || quote === char)) quote = quote === '' ? char : '';
    out += char;
    i++;
  }
  return out;
}

/** What a successful command step returns: its exit code, 0. */
export interface CommandResult {
  exitCode: 0;
}

/**
 * Runs a step's `command`: an array is a program and its arguments, run without a shell; a
 * string is a line for `/bin/sh -c`. Exit code 0 is success. Its output lines go to the task's
 * log as they come; the step's environment variables are set.
 */
export class CommandExecutor implements Executor {
  readonly kind = 'command';

  async run(task: TaskRun): Promise<CommandResult> {
    const { step, context, killGraceMs } = task;
    const command = step.placeholders ? fillPlaceholders(step.command as string | string[], task) : (step.command as string | string[]);
    const [program, args] = Array.isArray(command) ? [command[0], command.slice(1)] : ['/bin/sh', ['-c', command]];
    const shown = Array.isArray(command) ? command.join(' ') : command;
    const child = spawn(program, args, {
      cwd: step.cwd,
      env: { ...process.env, ...step.env, ...stepEnvironment(task) },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so that stopping the step stops every program it started.
      detached: true,
    });
    const started = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' && step.cwd !== undefined && !existsSync(step.cwd)) reject(new EventorError(`the working directory of command ${program} does not exist: ${step.cwd}`, { cause: error }));
        else if (error.code === 'ENOENT') reject(new EventorError(`command not found: ${program}${step.cwd ? ` (in ${step.cwd})` : ''}`, { cause: error }));
        else if (error.code === 'EACCES') reject(new EventorError(`command cannot be run (permission denied): ${program}`, { cause: error }));
        else reject(new EventorError(`command ${program} could not start: ${error.message}`, { cause: error }));
      });
    });
    const stopWatching = terminateOnAbort(child, context.signal, killGraceMs, true);
    try {
      await started;
      const [{ code, signal }] = await Promise.all([exited(child), logLines(child, context.logger)]);
      throwIfTimedOut(context.signal);
      if (context.signal.aborted && code !== 0) throw context.signal.reason;
      if (code === 0) return { exitCode: 0 };
      throw signal
        ? new CommandFailedError(`command '${shown}' was killed by ${signal}`, null, signal)
        : new CommandFailedError(`command '${shown}' exited with code ${code}`, code, null);
    } finally {
      stopWatching();
    }
  }

  async close(): Promise<void> {}
}
