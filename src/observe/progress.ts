import type { TransitionRecord } from '../model/records.js';
import type { TaskStatus } from '../model/status.js';

/** Where the block is drawn: a terminal's stream. */
export interface ProgressOutput {
  write(text: string): unknown;
  columns?: number;
}

const ORDER: TaskStatus[] = ['success', 'failure', 'active', 'ready', 'acquiring', 'waiting', 'retrying'];

/**
 * A live status block at the bottom of a terminal: tasks done of those known, by status, the
 * steps active now, the time since the start, and the last failure. Log lines go through
 * `write`, which lifts the block, writes the lines, and draws the block again under them, so
 * that no line is ever garbled by it. Lines are cut to the terminal's width: a wrapped line would
 * make the block lose count of its own height.
 */
export class ProgressBlock {
  private readonly statuses = new Map<string, TaskStatus>();
  private readonly active = new Map<string, string>();
  private lastFailure: string | undefined;
  private height = 0;
  private readonly started = Date.now();
  private readonly timer: NodeJS.Timeout;
  private dirty = false;
  private closed = false;

  constructor(
    private readonly out: ProgressOutput,
    private readonly title: string,
  ) {
    // The elapsed time moves even while nothing else does.
    this.timer = setInterval(() => this.redraw(), 250);
    this.timer.unref();
  }

  /** Takes console lines: the block steps aside for them. */
  write(text: string): void {
    this.erase();
    this.out.write(text);
    if (!this.closed) this.draw();
  }

  /** Counts a task transition, as `subscribe()` reports it; the block is drawn again soon. */
  update(transition: TransitionRecord): void {
    const key = `${transition.step}/${transition.sequence}`;
    this.statuses.set(key, transition.status);
    if (transition.status === 'active') this.active.set(key, transition.host);
    else this.active.delete(key);
    if (transition.status === 'failure' && transition.error) this.lastFailure = `${key}: ${transition.error.name}: ${transition.error.message.split('\n')[0]}`;
    if (!this.dirty) {
      this.dirty = true;
      setImmediate(() => this.redraw());
    }
  }

  /** Leaves the last state of the block on the terminal, and stops drawing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.erase();
    this.draw();
    this.height = 0;
  }

  private redraw(): void {
    this.dirty = false;
    if (this.closed) return;
    this.erase();
    this.draw();
  }

  private erase(): void {
    // To the start of the block's first line, then clear to the end of the screen.
    if (this.height > 0) this.out.write(`\x1b[${this.height}F\x1b[J`);
    this.height = 0;
  }

  private draw(): void {
    const width = Math.max(20, (this.out.columns ?? 100) - 1);
    const counts = new Map<TaskStatus, number>();
    for (const status of this.statuses.values()) counts.set(status, (counts.get(status) ?? 0) + 1);
    const done = (counts.get('success') ?? 0) + (counts.get('failure') ?? 0);
    const byStatus = ORDER.filter((status) => counts.get(status)).map((status) => `${counts.get(status)} ${status}`).join(', ');
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
    const activeSteps = [...this.active.keys()];
    const lines = [
      `── ${this.title}: ${done}/${this.statuses.size} tasks done${byStatus ? ` (${byStatus})` : ''}, ${elapsed} s`,
      `   active: ${activeSteps.length ? `${activeSteps.slice(0, 6).join(', ')}${activeSteps.length > 6 ? ` and ${activeSteps.length - 6} more` : ''}` : 'none'}`,
    ];
    if (this.lastFailure) lines.push(`   last failure: ${this.lastFailure}`);
    const text = lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line)).join('\n');
    this.out.write(`${text}\n`);
    this.height = lines.length;
  }
}
