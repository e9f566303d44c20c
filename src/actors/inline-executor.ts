import type { Executor, TaskRun } from './executor.js';
import { runInStep } from './step-context.js';

/** Runs a step's `func` in this process, awaiting what it returns. */
export class InlineExecutor implements Executor {
  readonly kind = 'inline';

  async run({ step, context }: TaskRun): Promise<unknown> {
    const func = step.func;
    if (!func) throw new TypeError(`step '${step.name}' has no func for the inline executor`);
    const args = step.kwargs === undefined ? step.args : [...step.args, step.kwargs];
    return await runInStep(context, () => func(...args));
  }

  async close(): Promise<void> {}
}
