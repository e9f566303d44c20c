import { StepTimeoutError } from '../model/errors.js';
import type { Executor, TaskRun } from './executor.js';
import { runInStep } from './step-context.js';

/** Runs a step's `func` in this process, awaiting what it returns. */
export class InlineExecutor implements Executor {
  readonly kind = 'inline';

  async run({ step, context, timeoutMs }: TaskRun): Promise<unknown> {
    const func = step.func;
    if (!func) throw new TypeError(`step '${step.name}' has no func for the inline executor`);
    const args = step.kwargs === undefined ? step.args : [...step.args, step.kwargs];
    const running = runInStep(context, () => func(...args));
    if (timeoutMs === undefined) return await running;
    // The step fails at its deadline even if its function resolves later; cancelling only signals it.
    const { signal } = context;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (signal.reason instanceof StepTimeoutError) reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([running, deadline]);
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {}
}
