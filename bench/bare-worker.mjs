// The bare worker baseline: a thread that answers each message with the result of the no-op step.
import { parentPort } from 'node:worker_threads';
import { noop } from './noop-step.mjs';

parentPort.on('message', ({ id, n }) => parentPort.postMessage({ id, result: noop(n) }));
