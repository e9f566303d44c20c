// The child process of the process executor: it receives one task over IPC (msgpackr), runs it,
// sends back the result (msgpackr) and exits.
import { CancelledError } from '../../model/errors.js';
import { assertEncodable, decode, encode } from '../../model/pack.js';
import type { TaskMessage, TaskReply } from '../wire.js';
import { runTaskMessage } from './run-task.js';

const controller = new AbortController();
// SIGTERM gives the step a chance to stop cleanly; the supervisor sends SIGKILL after a grace period.
process.once('SIGTERM', () => controller.abort(new CancelledError('the step was asked to stop (SIGTERM)')));

const send = (reply: TaskReply) =>
  new Promise<void>((resolve) => {
    const bytes = reply.type === 'result' ? encode({ type: 'result', result: reply.result }) : encode(reply);
    process.send?.(bytes, () => resolve());
  });

process.once('message', (bytes: Uint8Array) => {
  const task = decode(bytes) as TaskMessage;
  let last: Promise<void> = Promise.resolve();
  const reply = (message: TaskReply) => {
    last = last.then(() => send(message));
  };
  const check = (result: unknown) => {
    try {
      assertEncodable(result);
    } catch (error) {
      throw new TypeError(`the result of step '${task.step}' cannot cross from its process: ${(error as Error).message}`);
    }
  };
  void runTaskMessage(task, controller.signal, reply, check).then(async () => {
    await last;
    process.exit(0);
  });
});
