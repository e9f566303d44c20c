import { toErrorRecord } from '../../model/errors.js';
import type { LogLevel } from '../../model/config.js';
import type { Logger } from '../../model/logger.js';
import type { TaskMessage, TaskReply } from '../wire.js';
import { cannotDefer, runInStep, type StepContext } from '../step-context.js';

/** A logger whose lines go back to the supervisor, which logs them under the task's name. */
function replyLogger(name: string, reply: (message: TaskReply) => void): Logger {
  const log = (level: LogLevel) => (message: string) => reply({ type: 'log', level, message });
  const logger: Logger = { name, enabled: () => true, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => logger };
  return logger;
}

/** Modules imported by this thread or process: a pool thread runs many tasks of one module. */
const modules = new Map<string, Promise<Record<string, unknown>>>();

function importModule(url: string): Promise<Record<string, unknown>> {
  let module = modules.get(url);
  if (!module) {
    module = import(url) as Promise<Record<string, unknown>>;
    modules.set(url, module);
    module.catch(() => modules.delete(url));
  }
  return module;
}

/**
 * Runs one task where a worker or child process received it: sets its environment, imports its
 * module, calls the export inside the step's context, and replies with the result or the error.
 */
export async function runTaskMessage(task: TaskMessage, signal: AbortSignal, reply: (message: TaskReply) => void, check: (result: unknown) => void): Promise<void> {
  Object.assign(process.env, task.env);
  const context: StepContext = {
    name: task.step,
    sequence: task.sequence,
    recovery: task.recovery,
    runId: task.runId,
    host: task.host,
    logger: replyLogger(task.loggerName, reply),
    signal,
    defer: cannotDefer('a worker thread or a child process'),
  };
  try {
    const module = await importModule(task.module);
    const func = module[task.export];
    if (typeof func !== 'function') throw new TypeError(`module ${task.module} has no function export '${task.export}'`);
    const args = task.kwargs === undefined ? task.args : [...task.args, task.kwargs];
    const result = await runInStep(context, () => (func as (...args: unknown[]) => unknown)(...args));
    check(result);
    reply({ type: 'result', result });
  } catch (thrown) {
    reply({ type: 'error', error: toErrorRecord(thrown) });
  } finally {
    for (const key of Object.keys(task.env)) delete process.env[key];
  }
}

