/** The statuses a task passes through; `complete` is a trigger key meaning success or failure. */
export const StepStatus = {
  waiting: 'waiting',
  retrying: 'retrying',
  ready: 'ready',
  acquiring: 'acquiring',
  active: 'active',
  success: 'success',
  failure: 'failure',
  complete: 'complete',
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** The statuses a task can be recorded in (every status but the `complete` trigger key). */
export type TaskStatus = Exclude<StepStatus, 'complete'>;

/** The statuses under which a step may list triggers. */
export const TRIGGER_STATUSES = ['ready', 'active', 'success', 'failure', 'complete'] as const;
export type TriggerStatus = (typeof TRIGGER_STATUSES)[number];

/** The statuses a step's recovery map may name. */
export const RECOVERY_STATUSES: readonly TaskStatus[] = ['waiting', 'retrying', 'ready', 'acquiring', 'active', 'success', 'failure'];

/** What a recovery does with a task that an earlier run recorded in a given status. */
export const StepReplay = {
  skip: 'skip',
  rerun: 'rerun',
} as const;
export type StepReplay = (typeof StepReplay)[keyof typeof StepReplay];

/** How `run()` treats the runs already in the store. */
export const RunMode = {
  restart: 'restart',
  recover: 'recover',
  continue: 'continue',
} as const;
export type RunMode = (typeof RunMode)[keyof typeof RunMode];

/** True for the statuses a task never leaves. */
export function isFinal(status: TaskStatus): boolean {
  return status === 'success' || status === 'failure';
}
