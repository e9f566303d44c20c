import { fork } from 'node:child_process';
import { decode, encode } from '../model/pack.js';
import { exited, logLines, terminateOnAbort } from './child-process.js';
import { stepEnvironment, throwIfTimedOut, type Executor, type TaskRun } from './executor.js';
import { errorFromRecord, inheritedExecArgv, moduleUrl, runnerUrl } from './modules.js';
import type { TaskMessage, TaskReply } from './wire.js';

/** The plain-data task a worker thread or child process receives. */
export function taskMessage(task: TaskRun): TaskMessage {
  const { step, context } = task;
  return {
    v: 1,
    module: moduleUrl(step.module as string),
    export: step.export as string,
    args: step.args,
    kwargs: step.kwargs,
    step: context.name,
    sequence: context.sequence,
    recovery: context.recovery,
    runId: context.runId,
    host: context.host,
    loggerName: context.logger.name,
    env: { ...step.env, ...stepEnvironment(task) },
  };
}

/**
 * Runs `module` + `export` in a child process per task, as the Python Eventor did: arguments
 * and result cross as msgpackr, the step's environment variables are set, and its output and
 * log lines reach the task's log.
 */
export class ProcessExecutor implements Executor {
  readonly kind = 'process';

  async run(task: TaskRun): Promise<unknown> {
    const { context, killGraceMs } = task;
    const message = taskMessage(task);
    const child = fork(runnerUrl('process-runner'), [], {
      env: { ...process.env, ...message.env },
      execArgv: inheritedExecArgv(message.module),
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let reply: TaskReply | undefined;
    child.on('message', (bytes: Uint8Array) => {
      const received = decode(bytes) as TaskReply;
      if (received.type === 'log') context.logger[received.level === 'silent' ? 'info' : received.level](received.message);
      else reply = received;
    });
    const stopWatching = terminateOnAbort(child, context.signal, killGraceMs);
    try {
      child.send(encode(message));
      const [{ code, signal }] = await Promise.all([exited(child), logLines(child, context.logger)]);
      throwIfTimedOut(context.signal);
      if (reply?.type === 'result') return reply.result;
      // Stopped by a cancel: the cancel's own reason says more than what the child made of SIGTERM.
      if (context.signal.aborted) throw context.signal.reason;
      if (reply?.type === 'error') throw errorFromRecord(reply.error);
      throw new Error(`the process of step '${context.name}' ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it returned a result`);
    } finally {
      stopWatching();
    }
  }

  async close(): Promise<void> {}
}
