export { Eventor, type EventorOptions, type AddStepOptions, type AssocOptions, type RunOptions } from './dialects/eventor.js';
export { StepStatus, StepReplay, RunMode, type TaskStatus, type TriggerStatus } from './model/status.js';
export { or, and, type EventRef, type StepRef, type Expr, type ExprInput, type ExprNode } from './model/expr.js';
export { currentStep, type StepContext } from './actors/step-context.js';
export type { Executor, TaskRun } from './actors/executor.js';
export type { Todos, TransitionListener } from './actors/supervisor.js';
export type { FlowSpec, EventSpec, StepSpec, AssocSpec, TargetSpec, TriggerSpec, Sequence, StepFunction } from './model/spec.js';
export type { RunConfig, RunConfigInput, StepConfig, LogLevel } from './model/config.js';
export type { TransitionRecord, TaskRecord, EventRecord, RunRecord, RunStatus } from './model/records.js';
export type { Store } from './store/store.js';
export { validateFlow } from './model/validate.js';
export {
  EventorError,
  ValidationError,
  DuplicateNameError,
  UnknownNameError,
  ForeignReferenceError,
  ExpressionCycleError,
  EmptyExpressionError,
  InvalidDelayError,
  StepCodeError,
  UnknownStatusError,
  ConfigError,
  StepTimeoutError,
  ClosedError,
  CancelledError,
  RecoveryError,
  StoreError,
  type ErrorRecord,
} from './model/errors.js';
