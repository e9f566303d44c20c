import type { StepSpec } from '../model/spec.js';
import type { StepContext } from './step-context.js';

/** One task handed to an executor: the step's spec and the context its code sees. */
export interface TaskRun {
  readonly step: StepSpec;
  readonly context: StepContext;
  /** Prefix of the environment variables the step sees. */
  readonly envvarPrefix: string;
}

/**
 * Runs the code of tasks. The supervisor awaits `run`: its value is the task's result, a
 * rejection its failure. A remote executor implements the same contract over NATS.
 */
export interface Executor {
  readonly kind: string;
  run(task: TaskRun): Promise<unknown>;
  close(): Promise<void>;
}

/** The executor a step uses when its config names none: by the kind of code it has. */
export function defaultExecutorKind(step: StepSpec): string {
  if (step.config.executor) return step.config.executor;
  if (step.func) return 'inline';
  if (step.command !== undefined) return 'command';
  return 'process';
}
