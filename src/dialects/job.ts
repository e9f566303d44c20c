// The jobs of the DoJobber dialect: what a user subclasses, and the errors of a job graph.
// dojobber.ts runs them.
import { EventorError, ValidationError, type ErrorRecord } from '../model/errors.js';

/** A job class: made with `new` and no arguments, with its deps, tries and retry delay as static fields. */
export type JobClass = (new () => Job) & {
  readonly name: string;
  readonly deps?: readonly JobClass[];
  readonly tries?: number;
  readonly retryDelay?: number;
  readonly prototype: Job;
};

/** What a job under construction is given: the storage all jobs of the checknrun share. */
let constructing: { globalStorage: Record<string, unknown> } | undefined;

/** Makes a job with the global storage of its checknrun: the constructor takes no arguments, as the seed's do. @internal */
export function constructJob<T>(globalStorage: Record<string, unknown>, make: () => T): T {
  constructing = { globalStorage };
  try {
    return make();
  } finally {
    constructing = undefined;
  }
}

/**
 * An idempotent job: `check()` passes when it returns without throwing; when it throws, `run()`
 * does the work and `check()` runs again (the recheck), which alone decides. Deps, tries and the
 * retry delay (seconds) are static fields; `storage` is fresh on every try, `globalStorage` is
 * shared by every job of a checknrun.
 * @example
 * class FriendsArrive extends Job {
 *   static deps = [InviteFriends];
 *   check() { if (!everyoneHere()) throw new Error('not yet'); }
 *   run() { callFriends(); }
 * }
 */
export class Job {
  /** The jobs that must pass before this one is checked. */
  static deps: readonly JobClass[] = Object.freeze([]);
  /** Tries in all (check/run/recheck cycles); default: configure's defaultTries, 3. */
  static tries?: number;
  /** Least seconds between the starts of two tries; default: configure's defaultRetryDelay, 1. */
  static retryDelay?: number;
  /** This try's own storage, shared by its check, run and cleanup; a new try starts with a new one. */
  storage: Record<string, unknown> = {};
  /** Storage shared by every job of the checknrun: who writes a key should be a dep of who reads it. */
  readonly globalStorage: Record<string, unknown>;

  constructor() {
    this.globalStorage = constructing?.globalStorage ?? {};
  }

  /** Passes by returning (what it returns is the job's result), fails by throwing. */
  check(..._args: any[]): unknown {
    throw new EventorError(`job '${this.constructor.name}' has no check()`);
  }

  /** Does the work the check found missing; what it returns or throws is ignored, the recheck decides. */
  run(..._args: any[]): unknown {
    throw new EventorError(`job '${this.constructor.name}' has no run()`);
  }

  /** Optional: undoes side effects once checknrun is over, for jobs whose run ran, last first. */
  cleanup?(): unknown;
}

/** A job with nothing to check or run: it passes once its deps have, a node to group them. */
export class DummyJob extends Job {
  override check(): void {}
  override run(): void {}
}

/**
 * A job with only a `run()`, run on every try: it passes when the run returns (and its result
 * is what the run returned), fails when it throws. It cannot pass under noAct.
 */
export class RunonlyJob extends Job {
  /** Never called: a run-only job's check is the machine's, and fails so that the run runs. */
  override check(): never {
    throw new EventorError(`job '${this.constructor.name}' is a RunonlyJob: its check is never called`);
  }
}

/** Jobs whose deps lead back to themselves: no order could check them. */
export class JobCycleError extends ValidationError {
  constructor(readonly jobs: string[]) {
    super(`jobs ${jobs.map((job) => `'${job}'`).join(' -> ')} depend on one another in a cycle: a job cannot need itself; remove one of these deps`);
  }
}

/** A job whose definition cannot run: a bad tries or retryDelay, missing or extra methods, deps that are not jobs. */
export class JobDefinitionError extends ValidationError {
  constructor(
    readonly jobs: string[],
    message: string,
  ) {
    super(message);
  }
}

/** What a failed job's task fails with: the job, the phase that failed, and the user's error as its cause. */
export class JobFailedError extends EventorError {
  constructor(
    readonly job: string,
    readonly phase: string,
    error: ErrorRecord | undefined,
    options?: { cause?: unknown },
  ) {
    super(`job '${job}' failed its ${phase}${error ? `: ${error.name}: ${error.message}` : ''}`, options);
  }
}

