export { Eventor, type EventorOptions, type AddStepOptions, type AssocOptions, type RunOptions, type RunSummary } from './dialects/eventor.js';
export { Sequent, SequentStep, SequentEvent, type SequentOptions, type SequentStepOptions, type SequentRunOptions, type Requires, type Requirement, type RequireStatus } from './dialects/sequent.js';
export { loadFlow, FlowFileError, type LoadFlowOptions } from './dialects/yaml-flow.js';
export { fromMachineConfig, loadMachineConfig, MachineConfigError, UnknownImplementationError, type MachineConfigOptions, type LoadMachineConfigOptions } from './dialects/machine-config.js';
export { toXStateConfig, implementationsOf, type MachineConfig, type MachineStateConfig, type MachineFlowMeta, type MachineStepMeta, type FlowLike } from './observe/xstate-config.js';
export { StepStatus, StepReplay, RunMode, type TaskStatus, type TriggerStatus } from './model/status.js';
export { or, and, type EventRef, type StepRef, type Expr, type ExprInput, type ExprNode } from './model/expr.js';
export { currentStep, type StepContext } from './executors/step-context.js';
export { ResourcePool, type PoolState } from './actors/resource-pool.js';
export { CommandFailedError, type CommandResult } from './executors/command.js';
export type { Executor, TaskRun } from './executors/executor.js';
export type { Todos, TransitionListener, InspectObserver, SupervisorEvent, SupervisorSummary } from './actors/supervisor.js';
export { taskMachine, type TaskEvent, type TaskInput } from './machines/task.machine.js';
export { eventLogic, eventLogic as eventMachine, type EventContext, type EventEvent, type EventInput } from './machines/event.machine.js';
export { supervisorMachine, type SupervisorContext } from './machines/supervisor.machine.js';
export type { FlowSpec, EventSpec, StepSpec, AssocSpec, TargetSpec, TriggerSpec, PoolSpec, Sequence, StepFunction } from './model/spec.js';
export type { RunConfig, RunConfigInput, StepConfig, LogLevel, NatsSettings, SshSettings, SshHostSettings } from './model/config.js';
export { Agent, type AgentOptions } from './transport/agent.js';
export { sendTrigger, completeStep, type SendTriggerOptions, type CompleteStepOptions } from './transport/trigger.js';
export { PROTOCOL_VERSION } from './transport/protocol.js';
export { launchAgents, checkSshSettings, SshError, SshConfigError, SshUnreachableError, SshAuthError, SshHostKeyError, SshAgentError, type LaunchOptions, type LaunchedAgents } from './transport/ssh.js';
export type { TransitionRecord, TaskRecord, TaskContext, EarlierOutcome, EventRecord, DelayRecord, RunRecord, RunStatus, TaskCounts } from './model/records.js';
export type { Store, RecoveryState } from './store/store.js';
export { LevelStore } from './store/level-store.js';
export { MemoryStore } from './store/memory-store.js';
export { NatsStore } from './store/nats-store.js';
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
  OptionError,
  StepTimeoutError,
  ClosedError,
  CancelledError,
  RecoveryError,
  VolatileStoreError,
  NoRunToRecoverError,
  RunNotFoundError,
  FlowChangedError,
  StoreError,
  StoreLockedError,
  StoreFormatError,
  UnstorableResultError,
  RunStalledError,
  TransportError,
  NatsConnectionError,
  AgentTimeoutError,
  AgentLostError,
  RootEscapeError,
  TriggerRefusedError,
  type ErrorRecord,
} from './model/errors.js';
export { loadConfigFile, type ConfigFile } from './dialects/config-file.js';
export { Task, Operation, Result, OperationRegistry, OperationStatus, TaskFailedError, UnknownEntrypointError, THROWN_RETCODE, type TaskOptions, type OperationOptions, type RegistryOptions, type EntrypointClass } from './dialects/operation.js';
export { Producer, Consumer, Message, OPERATION_PROTOCOL_VERSION, type ProducerOptions, type ConsumerOptions, type MessageData, type ResultData, type OperationMessage, type OperationReply, type MessageHandler, type HandlerContext } from './transport/operation-queue.js';
export { DoJobber, Job, DummyJob, RunonlyJob, JobCycleError, JobDefinitionError, JobFailedError, type DoJobberOptions, type ConfigureOptions, type JobClass, type JobGraph, type JobGraphNode } from './dialects/dojobber.js';
export { jobMachine, type JobContext, type JobEvent, type JobInput, type JobKind, type JobPhase } from './machines/job.machine.js';
