import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../model/logger.js';

/** Sends each line a child writes to stdout (info) and stderr (warn) to a logger, as it comes. */
export function logLines(child: ChildProcess, logger: Logger): Promise<void> {
  const streams = [
    [child.stdout, (line: string) => logger.info(line)],
    [child.stderr, (line: string) => logger.warn(line)],
  ] as const;
  return Promise.all(
    streams.map(
      ([stream, log]) =>
        new Promise<void>((resolve) => {
          if (!stream) return resolve();
          const lines = createInterface({ input: stream, crlfDelay: Infinity });
          lines.on('line', log);
          lines.on('close', resolve);
        }),
    ),
  ).then(() => undefined);
}

/**
 * Stops a child when `signal` aborts: SIGTERM, then SIGKILL if it is still there after
 * `graceMs`. Returns the function that stops watching.
 */
export function terminateOnAbort(child: ChildProcess, signal: AbortSignal, graceMs: number, group = false): () => void {
  let killer: NodeJS.Timeout | undefined;
  const kill = (name: NodeJS.Signals) => {
    try {
      // A shell line's programs are in the child's process group: end them all, or a
      // grandchild would keep the output pipes open after the shell is gone.
      if (group && child.pid !== undefined) process.kill(-child.pid, name);
      else child.kill(name);
    } catch {
      // Already gone.
    }
  };
  const onAbort = () => {
    kill('SIGTERM');
    killer = setTimeout(() => kill('SIGKILL'), graceMs);
    killer.unref();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    signal.removeEventListener('abort', onAbort);
    clearTimeout(killer);
  };
}

/** Waits for a child to exit, with its exit code or the signal that ended it. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
