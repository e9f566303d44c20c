import type { LogLevel } from './config.js';

/** What steps and the runtime log through; lines carry the name of who logged them. */
export interface Logger {
  readonly name: string;
  enabled(level: LogLevel): boolean;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * Writes out, synchronously, every line its run's logger still holds (lines are otherwise
   * written once per turn of the event loop); optional, since a logger that holds nothing needs none.
   */
  flush?(): void;
  /** A logger that writes to the same places under another name (`Task-s1(1)`), its lines tagged with `fields`. */
  child(name: string, fields?: LogFields): Logger;
}

/** What a line of the JSON log file says about who logged it, besides the run. */
export interface LogFields {
  step?: string;
  sequence?: string;
  /** The host a line comes from, when it is not this one (a step on an agent). */
  host?: string;
}
