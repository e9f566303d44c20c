/** An XState inspection event, as much of it as the actor view reads (the `xstate` type, loosely). */
interface Inspected {
  type: string;
  actorRef?: { id?: string; sessionId?: string };
  sourceRef?: { id?: string } | undefined;
  event?: { type?: string };
  snapshot?: { value?: unknown; status?: string; context?: unknown };
}

/** One actor of the run as the inspector has seen it. */
export interface ActorRow {
  id: string;
  kind: 'supervisor' | 'event' | 'task' | 'other';
  /** Its state now: the machine's value, else XState's status. */
  state: string;
  /** Events it has received. */
  events: number;
  lastEvent: string | null;
  at: number;
}

/** One event an actor received. */
export interface ActorEvent {
  at: number;
  actor: string;
  from: string | null;
  event: string;
  /** The event's data as JSON, cut to a few hundred characters. */
  data: string;
  /** The actor's state after it, when a snapshot followed. */
  state?: string;
}

const MAX_TEXT = 600;
const cut = (text: string) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text);
const stateOf = (snapshot: Inspected['snapshot']) => (snapshot?.value === undefined ? (snapshot?.status ?? '?') : typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value));
const kindOf = (id: string): ActorRow['kind'] => (id.startsWith('supervisor:') ? 'supervisor' : id.startsWith('event:') ? 'event' : id.startsWith('task:') ? 'task' : 'other');

/**
 * The actor view of the dashboard: follows a run's XState inspection events (the supervisor, the
 * event actors and every task actor; the events each receives and the snapshot after), as a
 * local inspector that needs no internet. It keeps each actor's latest state, its last snapshot
 * (cut short), and the last `keep` events, so that a run of many tasks stays within bounds.
 */
export class ActorView {
  private readonly actors = new Map<string, ActorRow & { snapshot: string }>();
  private readonly recent: ActorEvent[] = [];
  private readonly lastOf = new Map<string, ActorEvent>();
  private readonly listeners = new Set<() => void>();
  private pending: NodeJS.Timeout | undefined;

  /**
   * Blanks secrets out of the text kept, before it is cut short: a secret cut in two would
   * escape the server's redactor. The dashboard sets it to its own.
   */
  redact: (text: string) => string = (text) => text;

  constructor(private readonly keep = 2000) {}

  private json(value: unknown): string {
    try {
      return cut(this.redact(JSON.stringify(value) ?? ''));
    } catch {
      return '(not JSON)';
    }
  }

  /** The inspection observer to hand to the run (`new Eventor({ inspect })`). */
  readonly inspect = (given: unknown): void => {
    const event = given as Inspected;
    const id = event.actorRef?.id;
    if (!id) return;
    const now = Date.now();
    let actor = this.actors.get(id);
    if (!actor) {
      actor = { id, kind: kindOf(id), state: '?', events: 0, lastEvent: null, at: now, snapshot: '' };
      this.actors.set(id, actor);
    }
    if (event.type === '@xstate.event' && event.event?.type) {
      actor.events += 1;
      actor.lastEvent = event.event.type;
      actor.at = now;
      const { type: _type, ...data } = event.event as Record<string, unknown>;
      const entry: ActorEvent = { at: now, actor: id, from: event.sourceRef?.id ?? null, event: event.event.type, data: this.json(data) };
      this.recent.push(entry);
      if (this.recent.length > this.keep) this.recent.shift();
      this.lastOf.set(id, entry);
    } else if (event.type === '@xstate.snapshot' && event.snapshot) {
      actor.state = stateOf(event.snapshot);
      actor.snapshot = this.json({ value: event.snapshot.value, status: event.snapshot.status, context: event.snapshot.context });
      actor.at = now;
      const last = this.lastOf.get(id);
      if (last && last.state === undefined) last.state = actor.state;
    } else return;
    this.changed();
  };

  /** Tells listeners, at most four times a second, that something changed. */
  private changed(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      for (const listener of this.listeners) listener();
    }, 250);
    this.pending.unref();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The actors, the supervisor and events first, a page at a time; `match` filters by id. */
  list(options: { offset?: number; limit?: number; match?: string } = {}): { total: number; actors: ActorRow[] } {
    const order = { supervisor: 0, event: 1, task: 2, other: 3 };
    const all = [...this.actors.values()].filter((actor) => !options.match || actor.id.includes(options.match)).sort((a, b) => order[a.kind] - order[b.kind]);
    const offset = options.offset ?? 0;
    return { total: all.length, actors: all.slice(offset, offset + (options.limit ?? 100)).map(({ snapshot: _snapshot, ...row }) => row) };
  }

  /** One actor's latest snapshot and the last events it received (of those kept). */
  actor(id: string, limit = 50): { actor: ActorRow; snapshot: string; events: ActorEvent[] } | undefined {
    const found = this.actors.get(id);
    if (!found) return undefined;
    const { snapshot, ...actor } = found;
    return { actor, snapshot, events: this.recent.filter((event) => event.actor === id).slice(-limit) };
  }

  /** The last events of the whole run. */
  events(limit = 100): ActorEvent[] {
    return this.recent.slice(-limit);
  }
}
