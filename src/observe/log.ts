import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pino from 'pino';
import { LOG_LEVELS, type LogLevel } from '../model/config.js';
import { toErrorRecord } from '../model/errors.js';
import type { LogFields, Logger } from '../model/logger.js';

export type { LogFields, Logger } from '../model/logger.js';

/** Where formatted console lines go; stderr by default. */
export type LineSink = (line: string) => void;

/** Options of a run's logger. */
export interface RunLoggerOptions {
  host: string;
  level?: LogLevel;
  console?: boolean;
  sink?: LineSink;
}

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** Local time as the Python Eventor printed it: `2026-11-23 10:07:48,612`. */
export function formatTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`
  );
}

/** One console line in the seed's layout: `[ time ][ host ][ name ][ LEVEL ][ message ]`. */
export function formatLine(level: LogLevel, host: string, name: string, message: string, at = new Date()): string {
  return `[ ${formatTime(at)} ][ ${host} ][ ${name} ][ ${level.toUpperCase()} ][ ${message} ]`;
}

/**
 * The logger of a run: console lines in the seed's format from `level` up, and, once a file is
 * attached, the same records as JSON lines (pino) with runId, recovery, step, sequence and host.
 */
export class RunLogger {
  private readonly threshold: number;
  private readonly sink: LineSink | undefined;
  private file: pino.Logger | undefined;
  private destination: ReturnType<typeof pino.destination> | undefined;
  private sinkError = false;
  /** The root logger, named after the run. */
  readonly root: Logger;

  constructor(
    name: string,
    private readonly options: RunLoggerOptions,
  ) {
    this.threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
    const toConsole = options.console !== false;
    this.sink = toConsole ? (options.sink ?? ((line) => process.stderr.write(`${line}\n`))) : undefined;
    this.root = this.make(name, {});
  }

  /** Writes JSON lines to `path` from now on; every line carries `base` (runId, recovery). */
  attachFile(path: string, base: { runId: string; recovery: number }): void {
    mkdirSync(dirname(path), { recursive: true });
    this.destination = pino.destination({ dest: path, sync: false, mkdir: true });
    const level = LOG_LEVELS[this.threshold] === 'silent' ? 'silent' : LOG_LEVELS[this.threshold];
    this.file = pino({ level, base: { ...base, host: this.options.host }, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, this.destination);
  }

  /** Writes what the file logger still holds. */
  async close(): Promise<void> {
    const destination = this.destination;
    this.file = undefined;
    this.destination = undefined;
    if (!destination) return;
    // end() writes what is buffered, then closes the file: the lines are there once it has.
    await new Promise<void>((resolve) => {
      destination.once('close', () => resolve());
      destination.once('error', () => resolve());
      destination.end();
    });
  }

  private make(name: string, fields: LogFields): Logger {
    return new NamedLogger(this, name, fields);
  }

  /** @internal */
  write(level: Exclude<LogLevel, 'silent'>, name: string, fields: LogFields, message: string, file?: () => pino.Logger | undefined): void {
    if (LOG_LEVELS.indexOf(level) < this.threshold) return;
    if (this.sink) {
      try {
        this.sink(formatLine(level, this.options.host, name, message));
      } catch (error) {
        this.sinkFailed(error);
      }
    }
    (file ? file() : this.file?.child({ ...fields, logger: name }))?.[level](message);
  }

  /** A log sink that throws must not take the run down: its error is told once on stderr, and the run goes on. */
  private sinkFailed(error: unknown): void {
    if (this.sinkError) return;
    this.sinkError = true;
    process.stderr.write(`eventor: the logSink threw (${toErrorRecord(error).message}); the run goes on, and lines it could not take are lost. Further errors of the sink are not shown\n`);
  }

  /** @internal A pino child with a logger's bindings, made once per logger that writes to the file. */
  fileFor(name: string, fields: LogFields): pino.Logger | undefined {
    return this.file?.child({ ...fields, logger: name });
  }

  /** @internal */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold && (this.sink !== undefined || this.file !== undefined);
  }

  /** @internal */
  child(name: string, fields: LogFields): Logger {
    return this.make(name, fields);
  }
}

/** A logger under one name: methods on a prototype, since one is made for every task that logs. */
class NamedLogger implements Logger {
  /** Its bindings serialised once, by pino, rather than on every line. */
  private file: pino.Logger | undefined;
  private readonly fileOf = () => (this.file ??= this.run.fileFor(this.name, this.fields));

  constructor(
    private readonly run: RunLogger,
    readonly name: string,
    private readonly fields: LogFields,
  ) {}

  enabled(level: LogLevel): boolean {
    return this.run.enabled(level);
  }

  debug(message: string): void {
    this.run.write('debug', this.name, this.fields, message, this.fileOf);
  }

  info(message: string): void {
    this.run.write('info', this.name, this.fields, message, this.fileOf);
  }

  warn(message: string): void {
    this.run.write('warn', this.name, this.fields, message, this.fileOf);
  }

  error(message: string): void {
    this.run.write('error', this.name, this.fields, message, this.fileOf);
  }

  child(name: string, fields: LogFields = {}): Logger {
    return this.run.child(name, { ...this.fields, ...fields });
  }
}
