// What the models compute, in one shape for the Eventor and the Sequent model alike.

/** The final status of a task that ran. */
export type Final = 'success' | 'failure';

/** One task (a step for a sequence) that the run creates. */
export interface ModelTask {
  step: string;
  sequence: string;
  /** Undefined for a task created but not started (only when the model is told so). */
  status?: Final;
}

/** What a run comes to. */
export interface Outcome {
  /** By `step/sequence`. */
  tasks: Map<string, ModelTask>;
  /** Whether an unhandled failure of a stopOnException step stops the run. */
  stops: boolean;
  /** What run() resolves to: false when a failure went unhandled (a stop needs one). */
  ok: boolean;
}

/** The key of a task, and of an event for a sequence, in the models' maps and in messages. */
export const taskKey = (step: string, sequence: string): string => `${step}/${sequence}`;

/** The index of the record at which a task of the real run entered a status; Infinity if it never did. */
export type RecordAt = (step: string, sequence: string, status: 'ready' | 'active' | Final) => number;
