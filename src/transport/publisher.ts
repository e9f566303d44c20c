import { createInbox, headers, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { TransportError } from '../model/errors.js';

/** A publish waiting for the stream's acknowledgement. */
interface Unacked {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly id: string;
  sentAt: number;
  resolve(seq: number): void;
  reject(error: unknown): void;
}

/** Milliseconds after which a publish with no acknowledgement is sent again. */
const RESEND_AFTER_MS = 2000;

/**
 * Publishes to JetStream streams without a request per message: every publish carries its id
 * (`Nats-Msg-Id`, so that the stream keeps one copy of a message sent twice) and a reply
 * subject under one inbox, and one subscription takes every acknowledgement. A publish not
 * acknowledged in time (NATS was away) is sent again until it is, or until `close()`. A
 * request per publish cost a timer and three Error objects with stacks each; a fan-out of
 * thousands of tasks spent most of its time there.
 */
export class StreamPublisher {
  private readonly inbox = createInbox();
  private readonly unacked = new Map<string, Unacked>();
  private readonly subscription: Subscription;
  private readonly timer: NodeJS.Timeout;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (_error, msg) => {
        const key = msg.subject.slice(this.inbox.length + 1);
        const waiting = this.unacked.get(key);
        if (!waiting) return;
        // No stream took it yet (a server that is starting again): the next resend tries again.
        if (msg.headers?.code === 503 || msg.data.length === 0) return;
        let ack: { seq?: number; error?: { code?: number; description?: string } };
        try {
          ack = JSON.parse(new TextDecoder().decode(msg.data)) as typeof ack;
        } catch {
          return;
        }
        if (ack.error) {
          // 503: JetStream is not ready; anything else will not get better by sending again.
          if (ack.error.code === 503) return;
          this.unacked.delete(key);
          waiting.reject(new TransportError(`the stream refused a message on ${waiting.subject}: ${ack.error.description ?? `error ${ack.error.code}`}`));
          return;
        }
        this.unacked.delete(key);
        waiting.resolve(ack.seq ?? 0);
      },
    });
    this.timer = setInterval(() => this.resend(), RESEND_AFTER_MS / 2);
    this.timer.unref();
  }

  /** Publishes `data` to a stream's `subject`, once per `id`; resolves with its sequence in the stream once stored. */
  publish(subject: string, data: Uint8Array, id: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const key = String(++this.next);
      const waiting: Unacked = { subject, data, id, sentAt: Date.now(), resolve, reject };
      this.unacked.set(key, waiting);
      this.send(key, waiting);
    });
  }

  /** Stops resending; publishes still unacknowledged are rejected. */
  close(): void {
    clearInterval(this.timer);
    this.subscription.unsubscribe();
    for (const waiting of this.unacked.values()) waiting.reject(new TransportError(`closed before the stream acknowledged a message on ${waiting.subject}`));
    this.unacked.clear();
  }

  private send(key: string, waiting: Unacked): void {
    if (this.nc.isClosed()) return;
    const head = headers();
    head.set('Nats-Msg-Id', waiting.id);
    waiting.sentAt = Date.now();
    try {
      this.nc.publish(waiting.subject, waiting.data, { reply: `${this.inbox}.${key}`, headers: head });
    } catch {
      // A connection closing or draining: the resend timer tries again while it can.
    }
  }

  private resend(): void {
    const now = Date.now();
    for (const [key, waiting] of this.unacked) if (now - waiting.sentAt >= RESEND_AFTER_MS) this.send(key, waiting);
  }
}
