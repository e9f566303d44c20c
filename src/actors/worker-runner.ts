// A thread of the worker executor's pool: it runs tasks one at a time, as the pool sends them.
import { parentPort } from 'node:worker_threads';
import type { TaskMessage, TaskReply } from './remote-task.js';
import { runTaskMessage } from './run-task-message.js';

const port = parentPort;
if (!port) throw new Error('worker-runner runs inside a worker thread of the worker executor');

port.on('message', (task: TaskMessage) => {
  const reply = (message: TaskReply) => {
    try {
      port.postMessage(message);
    } catch (error) {
      // A result structured clone cannot copy (a function, a class with private state, ...).
      port.postMessage({ type: 'error', error: { name: 'DataCloneError', message: `the result of step '${task.step}' cannot cross from its worker thread: ${(error as Error).message}` } } satisfies TaskReply);
    }
  };
  // A worker is stopped by terminating it, so its steps' signal never aborts.
  void runTaskMessage(task, new AbortController().signal, reply, () => {}).then(() => port.postMessage({ type: 'done' }));
});
