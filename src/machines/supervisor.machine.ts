import { assign, setup } from 'xstate';

/** What the run's lifecycle keeps: failures that nothing handled, and how it stopped. */
export interface SupervisorContext {
  unhandledFailures: number;
  stopReason?: string;
}

/** What the supervisor runtime tells the lifecycle. */
export type SupervisorEvent =
  | { type: 'run' }
  | { type: 'failure'; handled: boolean; stop: boolean; step: string; sequence: string }
  | { type: 'cancel'; reason: string }
  | { type: 'settle' };

/**
 * The lifecycle of one run: `idle` → `running` → (`stopping`) → `idle` | `stopped`.
 * `running` starts tasks; `stopping` lets running tasks finish and starts none; a run that
 * stopped stays stopped, so that only a recovery can take it further.
 */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
  },
  guards: {
    stopsRun: ({ event }) => event.type === 'failure' && !event.handled && event.stop,
  },
  actions: {
    recordStop: assign({ stopReason: ({ event }) => (event.type === 'failure' ? `step ${event.step}/${event.sequence} failed` : undefined) }),
    countFailure: assign({
      unhandledFailures: ({ context, event }) => context.unhandledFailures + (event.type === 'failure' && !event.handled ? 1 : 0),
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: { unhandledFailures: 0 },
  initial: 'idle',
  states: {
    idle: {
      on: {
        run: 'running',
        // A recovery may replay a failure before its run() starts: it counts, and may stop the run.
        failure: [{ guard: 'stopsRun', target: 'stopped', actions: ['countFailure', 'recordStop'] }, { actions: 'countFailure' }],
      },
    },
    running: {
      on: {
        failure: [
          {
            guard: 'stopsRun',
            target: 'stopping',
            actions: ['countFailure', 'recordStop'],
          },
          { actions: 'countFailure' },
        ],
        cancel: { target: 'stopping', actions: assign({ stopReason: ({ event }) => (event.type === 'cancel' ? event.reason : undefined) }) },
        settle: 'idle',
      },
    },
    stopping: {
      on: {
        failure: { actions: 'countFailure' },
        settle: 'stopped',
      },
    },
    stopped: {
      on: { run: 'stopping' },
    },
  },
});
