import { StepTimeoutError } from '../model/errors.js';
import type { StepSpec } from '../model/spec.js';
import type { StepContext } from './step-context.js';

/** One task handed to an executor: the step's spec and the context its code sees. */
export interface TaskRun {
  readonly step: StepSpec;
  /** What `currentStep()` gives; its `signal` aborts at the timeout (reason StepTimeoutError) or on cancel. */
  readonly context: StepContext;
  /** Prefix of the environment variables the step sees. */
  readonly envvarPrefix: string;
  /** Whether the task has a timeout, so that an executor knows to watch `context.signal` for it. */
  readonly timeoutMs?: number;
  /** Milliseconds between SIGTERM and SIGKILL when a program or process is stopped. */
  readonly killGraceMs: number;
  /** Which try of the task this is (1 for the first): a remote try is known by it across hosts and restarts. */
  readonly attempt?: number;
  /** Filled in by an executor that ran the task elsewhere: the host that ran it. */
  readonly where?: { host?: string };
}

/** The environment variables that tell a step who it is: `${prefix}STEP_NAME` and the others. */
export function stepEnvironment(task: TaskRun): Record<string, string> {
  const { context, envvarPrefix: prefix } = task;
  return {
    [`${prefix}STEP_NAME`]: context.name,
    [`${prefix}STEP_SEQUENCE`]: context.sequence,
    [`${prefix}STEP_RECOVERY`]: String(context.recovery),
    [`${prefix}LOGGER_NAME`]: context.logger.name,
    [`${prefix}RUN_ID`]: context.runId,
  };
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

/** A task whose signal aborted for its timeout has failed, whatever its code did after. */
export function throwIfTimedOut(signal: AbortSignal): void {
  if (signal.aborted && signal.reason instanceof StepTimeoutError) throw signal.reason;
}

/** The executor a step uses when its config names none: by the kind of code it has. */
export function defaultExecutorKind(step: StepSpec, moduleDefault = 'process'): string {
  if (step.config.executor) return step.config.executor;
  if (step.func) return 'inline';
  if (step.command !== undefined) return 'command';
  return moduleDefault;
}
