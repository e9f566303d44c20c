import { StepTimeoutError } from '../model/errors.js';
import { throwIfTimedOut, type Executor, type TaskRun } from './executor.js';
import { runInStep } from './step-context.js';

/** Runs a step's `func` in this process, awaiting what it returns. */
export class InlineExecutor implements Executor {
  readonly kind = 'inline';

  async run({ step, context, timeoutMs }: TaskRun): Promise<unknown> {
    const func = step.func;
    if (!func) throw new TypeError(`step '${step.name}' has no func for the inline executor`);
    const args = step.kwargs === undefined ? step.args : [...step.args, step.kwargs];
    if (timeoutMs === undefined) return await runInStep(context, () => func(...args));
    // The step fails at its deadline even if its function resolves later, or resolves because
    // its signal aborted; cancelling only signals it. The deadline listener goes first, so that
    // it hears the abort before the step's own listeners do.
    const { signal } = context;
    let onAbort: (() => void) | undefined;
    const deadline = new Promise<never>((_, reject) => {
      onAbort = () => {
        if (signal.reason instanceof StepTimeoutError) reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const result = await Promise.race([runInStep(context, () => func(...args)), deadline]);
      throwIfTimedOut(signal);
      return result;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {}
}
