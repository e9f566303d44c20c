import { currentStep } from '../executors/step-context.js';
import { EventorError } from '../model/errors.js';
import type { ContainerSpec, Sequence, StepFunction } from '../model/spec.js';
import { isFinal, type TaskStatus } from '../model/status.js';

/** What a container's code may do in its run. */
export interface RunControl {
  trigger(event: string, sequence: Sequence): void;
  waitForEvent(events: readonly string[], sequence: Sequence): Promise<string | undefined>;
  statusOf(step: string, sequence: Sequence): TaskStatus | undefined;
}

/**
 * The code of a container step: its repeats one after the other. A repeat is over when all its
 * children succeeded (`done`), when one failed that nothing handles (`failed`), or when the
 * run has nothing else to do: then it succeeded unless a child failed unhandled (steps that
 * wait for a failure that never came simply do not run).
 */
export function containerCode(container: ContainerSpec, run: RunControl): StepFunction {
  const handled = new Set(container.handled);
  return async () => {
    if (container.children.length === 0) return;
    const { name, sequence } = currentStep();
    for (const repeat of container.repeats) {
      const inner = `${sequence}.${repeat}`;
      const failed = () => new EventorError(`repeat ${repeat} of ${name} (sequence ${inner}) failed: one of its steps failed`);
      run.trigger(container.start, inner);
      for (;;) {
        const ended = await run.waitForEvent([container.done, container.failed], inner);
        if (ended === container.done) break;
        if (ended === container.failed) throw failed();
        const statuses = container.children.map((step) => [step, run.statusOf(step, inner)] as const);
        if (statuses.some(([step, status]) => status === 'failure' && !handled.has(step))) throw failed();
        // A child container still waiting for its own children ends first; then this one looks again.
        if (statuses.every(([, status]) => status === undefined || isFinal(status))) break;
      }
    }
  };
}
