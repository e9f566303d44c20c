import type { ErrorRecord } from '../model/errors.js';
import type { LogLevel } from '../model/config.js';
import type { Sequence } from '../model/spec.js';

// The messages between the runtime and the worker threads and child processes that run steps
// on this host. The messages that cross to other hosts live in src/transport.

/** A task as it crosses to a worker thread or a child process: plain data only. */
export interface TaskMessage {
  v: 1;
  /** The module to import: a file URL, or a package name. */
  module: string;
  export: string;
  args: unknown[];
  kwargs?: Record<string, unknown>;
  step: string;
  sequence: Sequence;
  recovery: number;
  runId: string;
  host: string;
  loggerName: string;
  /** Environment variables to set for the task (the step's own and `${prefix}STEP_*`). */
  env: Record<string, string>;
}

/** What comes back from a worker thread or a child process while and after a task runs. */
export type TaskReply = { type: 'log'; level: LogLevel; message: string } | { type: 'result'; result: unknown } | { type: 'error'; error: ErrorRecord };
