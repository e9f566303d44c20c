import type { NatsSettings } from '../model/config.js';
import { NatsConnectionError, TriggerRefusedError, toErrorRecord, type ErrorRecord } from '../model/errors.js';
import { connectNats, natsSettingsOf, subjectsOf } from './connection.js';
import { decodeMessage, encodeMessage, runOfToken, type Unversioned, type WireMessage } from './protocol.js';

/** What `sendTrigger` needs: where NATS is, the run, the event and its sequence. */
export interface SendTriggerOptions {
  /** NATS settings, or a URL; default EVENTOR_NATS_URL. */
  nats?: NatsSettings | string;
  runId: string;
  event: string;
  sequence: string | number;
  /** Milliseconds to wait for the run's answer (default 10,000). */
  timeoutMs?: number;
}

/**
 * Fires an event in a running flow from anywhere that reaches its NATS, as if the flow had
 * called `triggerEvent(event, sequence)`. Resolves once the run took it; an event the flow does
 * not have, or a run that is not running, is a TriggerRefusedError that says which.
 */
export async function sendTrigger(options: SendTriggerOptions): Promise<void> {
  await ask(options.nats, options.runId, (subjects) => subjects.trigger(options.runId), { kind: 'trigger', event: String(options.event), sequence: String(options.sequence) }, `trigger event ${options.event}`, options.timeoutMs);
}

/** What `completeStep` needs: where NATS is, the token the step's defer() gave, and the outcome. */
export interface CompleteStepOptions {
  nats?: NatsSettings | string;
  token: string;
  /** Fails the task instead of completing it with success. */
  failed?: boolean;
  /** The task's result (plain data), on success. */
  result?: unknown;
  /** Why it failed, when `failed`. */
  error?: string;
  timeoutMs?: number;
}

/**
 * Finishes a deferred step from outside: success with `result`, or failure (`failed`) with
 * `error`. The run must be going; a token already completed, or that no run knows, is refused
 * with a TriggerRefusedError that says why.
 */
export async function completeStep(options: CompleteStepOptions): Promise<void> {
  const runId = typeof options.token === 'string' ? runOfToken(options.token) : undefined;
  if (runId === undefined) throw new TriggerRefusedError(`${JSON.stringify(String(options.token)).slice(0, 80)} is not a token of a deferred step: give the token that currentStep().defer() returned`);
  const error: ErrorRecord | undefined = options.failed ? { name: 'DeferredStepFailed', message: options.error ?? 'completed as failed from outside' } : undefined;
  const message: Unversioned<WireMessage> = options.failed ? { kind: 'complete', token: options.token, ok: false, error } : { kind: 'complete', token: options.token, ok: true, result: options.result };
  await ask(options.nats, runId, (subjects) => subjects.complete(runId), message, 'complete a deferred step', options.timeoutMs);
}

/** Sends one request to a running flow and throws a TriggerRefusedError when it refuses or nobody listens. */
async function ask(nats: NatsSettings | string | undefined, runId: string, subjectOf: (subjects: ReturnType<typeof subjectsOf>) => string, message: Unversioned<WireMessage>, what: string, timeoutMs = 10_000): Promise<void> {
  const settings = natsSettingsOf(typeof nats === 'string' ? { servers: nats } : nats);
  if (!settings) throw new NatsConnectionError(`cannot ${what}: no NATS; give nats (a URL or settings), or set EVENTOR_NATS_URL`);
  const nc = await connectNats(settings, 'eventor-client');
  try {
    const subject = subjectOf(subjectsOf(settings));
    let reply;
    try {
      reply = await nc.request(subject, encodeMessage(message), { timeout: timeoutMs });
    } catch (error) {
      const why = /no responders/i.test(toErrorRecord(error).message) ? 'no running flow listens for it' : `it did not answer (${toErrorRecord(error).message})`;
      throw new TriggerRefusedError(`cannot ${what} in run ${runId}: ${why}; check the run id (eventor runs) and that the run is going, on the same NATS and prefix`, { cause: error });
    }
    let problem = '';
    const answer = decodeMessage(subject, reply.data, ['triggered'], (line) => (problem = line));
    if (!answer) throw new TriggerRefusedError(`run ${runId} answered with a message this Eventor cannot read (${problem}): use the same Eventor version as the run`);
    if (!answer.ok) throw new TriggerRefusedError(`run ${runId} refused to ${what}: ${answer.message ?? 'no reason given'}`);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
