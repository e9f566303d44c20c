import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Fifo } from '../model/fifo.js';
import type { Executor, TaskRun } from './executor.js';
import { taskMessage } from './process.js';
import { errorFromRecord, inheritedExecArgv, isTypeScript, moduleUrl, runnerUrl } from './modules.js';
import type { TaskReply } from './wire.js';

/**
 * The code a pool thread starts with. Node 20 does not pass loader hooks given as `--import` on
 * to worker threads, so when the runner or the step's module is TypeScript the thread registers
 * tsx itself before it loads the runner.
 */
function bootstrap(runner: string, module: string): string {
  const tsx = isTypeScript(runner) || isTypeScript(module) ? import.meta.resolve('tsx/esm/api') : undefined;
  return `(async () => {
    ${tsx ? `(await import(${JSON.stringify(tsx)})).register();` : ''}
    await import(${JSON.stringify(runner)});
  })();`;
}

/** A task waiting for a thread of the pool. */
interface Waiting {
  task: TaskRun;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs `module` + `export` in a pool of worker threads: arguments and result cross by structured
 * clone. A thread runs one task at a time; a task stopped by its timeout or a cancel ends its
 * thread, and the pool makes another.
 */
export class WorkerExecutor implements Executor {
  readonly kind = 'worker';
  private readonly idle: Worker[] = [];
  private readonly queue = new Fifo<Waiting>();
  private threads = 0;
  private closed = false;
  private readonly size: number;

  constructor(size = 0) {
    this.size = size > 0 ? size : availableParallelism();
  }

  run(task: TaskRun): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((worker) => worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.size > 0 && !this.closed) {
      let worker = this.idle.pop();
      if (!worker) {
        if (this.threads >= this.size) return;
        worker = this.spawn(moduleUrl((this.queue.peek() as Waiting).task.step.module as string));
      }
      this.runOn(worker, this.queue.shift() as Waiting);
    }
  }

  private spawn(module: string): Worker {
    this.threads++;
    // The thread sends its tasks' output as log lines itself (worker-runner.ts).
    const worker = new Worker(bootstrap(runnerUrl('worker-runner').href, module), { eval: true, execArgv: inheritedExecArgv() });
    worker.unref();
    return worker;
  }

  private runOn(worker: Worker, { task, resolve, reject }: Waiting): void {
    const { context } = task;
    let reply: TaskReply | undefined;
    const finish = (settle: () => void, keepWorker: boolean) => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      context.signal.removeEventListener('abort', onAbort);
      if (keepWorker) {
        // An idle thread must not keep the process alive.
        worker.unref();
        this.idle.push(worker);
      } else this.threads--;
      settle();
      this.dispatch();
    };
    const onMessage = (message: TaskReply | { type: 'done' }) => {
      if (message.type === 'log') context.logger[message.level === 'silent' ? 'info' : message.level](message.message);
      else if (message.type === 'done') {
        const received = reply;
        finish(() => (received?.type === 'result' ? resolve(received.result) : reject(received?.type === 'error' ? errorFromRecord(received.error) : new Error('the worker ended the task without a result'))), true);
      } else reply = message;
    };
    const onError = (error: Error) => finish(() => reject(error), false);
    const onExit = (code: number) => finish(() => reject(context.signal.aborted ? context.signal.reason : new Error(`the worker thread of step '${context.name}' exited with code ${code} before it returned a result`)), false);
    const onAbort = () => void worker.terminate();
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    if (context.signal.aborted) onAbort();
    else context.signal.addEventListener('abort', onAbort, { once: true });
    worker.ref();
    worker.postMessage(taskMessage(task));
  }
}
