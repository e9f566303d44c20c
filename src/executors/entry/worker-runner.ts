// A thread of the worker executor's pool: it runs tasks one at a time, as the pool sends them.
import { parentPort } from 'node:worker_threads';
import type { TaskMessage, TaskReply } from '../wire.js';
import { runTaskMessage } from './run-task.js';

const port = parentPort;
if (!port) throw new Error('worker-runner runs inside a worker thread of the worker executor');

/** Where the current task's output lines go; between tasks, nowhere but the thread's own stream. */
let current: ((message: TaskReply) => void) | undefined;

/**
 * Sends what the step writes to stdout and stderr as log lines over the same port as its
 * result, so that every line arrives, in order, before the task ends and under its name.
 */
function capture(stream: NodeJS.WriteStream, level: 'info' | 'warn'): () => void {
  const original = stream.write.bind(stream);
  let pending = '';
  stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
    if (!current) return original(chunk as string, encoding as BufferEncoding, callback as () => void);
    pending += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) current({ type: 'log', level, message: line });
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') done();
    return true;
  }) as typeof stream.write;
  return () => {
    if (pending && current) current({ type: 'log', level, message: pending });
    pending = '';
  };
}

const flushStdout = capture(process.stdout, 'info');
const flushStderr = capture(process.stderr, 'warn');

port.on('message', (task: TaskMessage) => {
  const reply = (message: TaskReply) => {
    try {
      port.postMessage(message);
    } catch (error) {
      // A result structured clone cannot copy (a function, a class with private state, ...).
      port.postMessage({ type: 'error', error: { name: 'DataCloneError', message: `the result of step '${task.step}' cannot cross from its worker thread: ${(error as Error).message}` } } satisfies TaskReply);
    }
  };
  current = reply;
  // A worker is stopped by terminating it, so its steps' signal never aborts.
  void runTaskMessage(task, new AbortController().signal, reply, () => {}).then(() => {
    flushStdout();
    flushStderr();
    current = undefined;
    port.postMessage({ type: 'done' });
  });
});
