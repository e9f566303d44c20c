import { AsyncLocalStorage } from 'node:async_hooks';
import { EventorError } from '../model/errors.js';
import type { Sequence } from '../model/spec.js';
import type { Logger } from '../model/logger.js';

/** What a running step may know about itself; `currentStep()` returns it. */
export interface StepContext {
  /** The step's name. */
  readonly name: string;
  readonly sequence: Sequence;
  /** 0 in the first run, then the number of the recovery that runs the step. */
  readonly recovery: number;
  readonly runId: string;
  readonly host: string;
  /** A logger whose lines carry `Task-<step>(<sequence>)`. */
  readonly logger: Logger;
  /** Fires when the step's timeout passes or the run is cancelled. */
  readonly signal: AbortSignal;
  /**
   * Hands the task's completion to another system: returns a token, and once the step's code
   * returns, the task stays active (holding no concurrency slot) until `eventor complete TOKEN`
   * or `completeStep()` finishes it; `config.timeout` still bounds the wait. Needs NATS, and an
   * inline step of the supervisor's process: elsewhere it throws, saying so.
   */
  defer(): string;
}

/** The defer() of a step that runs where no completion can reach it (a thread, a child process, an agent). @internal */
export function cannotDefer(where: string): () => never {
  return () => {
    throw new EventorError(`defer() works in inline steps of the supervisor's process, and this step runs in ${where}: give it executor 'inline', or complete it another way`);
  };
}

const storage = new AsyncLocalStorage<StepContext>();

/**
 * The step that is running the calling code, from anywhere inside its async call tree.
 * @example
 * ev.addStep('load', { func: async () => console.log(currentStep().sequence) });
 */
export function currentStep(): StepContext {
  const context = storage.getStore();
  if (!context) throw new EventorError('currentStep() was called outside a running step: call it from code that a step runs');
  return context;
}

/** Runs `fn` as the code of the step described by `context`. @internal */
export function runInStep<T>(context: StepContext, fn: () => T): T {
  return storage.run(context, fn);
}
