import type { NatsSettings } from '../model/config.js';
import { NatsConnectionError, TriggerRefusedError, toErrorRecord } from '../model/errors.js';
import { connectNats, natsSettingsOf, subjectsOf } from './connection.js';
import { decodeMessage, encodeMessage } from './protocol.js';

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
  const settings = natsSettingsOf(typeof options.nats === 'string' ? { servers: options.nats } : options.nats);
  if (!settings) throw new NatsConnectionError('sendTrigger() has no NATS: give it nats (a URL or settings), or set EVENTOR_NATS_URL');
  const nc = await connectNats(settings, 'eventor-trigger');
  try {
    const subject = subjectsOf(settings).trigger(options.runId);
    let reply;
    try {
      reply = await nc.request(subject, encodeMessage({ kind: 'trigger', event: String(options.event), sequence: String(options.sequence) }), { timeout: options.timeoutMs ?? 10_000 });
    } catch (error) {
      const why = /no responders/i.test(toErrorRecord(error).message) ? 'no running flow listens for it' : `it did not answer (${toErrorRecord(error).message})`;
      throw new TriggerRefusedError(`cannot trigger event ${options.event} in run ${options.runId}: ${why}; check the run id (eventor runs) and that the run is going, on the same NATS and prefix`, { cause: error });
    }
    let problem = '';
    const answer = decodeMessage(subject, reply.data, ['triggered'], (line) => (problem = line));
    if (!answer) throw new TriggerRefusedError(`run ${options.runId} answered the trigger with a message this Eventor cannot read (${problem}): use the same Eventor version as the run`);
    if (!answer.ok) throw new TriggerRefusedError(`run ${options.runId} refused event ${options.event}: ${answer.message ?? 'no reason given'}`);
  } finally {
    await nc.close().catch(() => undefined);
  }
}
