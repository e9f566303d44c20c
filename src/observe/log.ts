import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { LOG_LEVELS, type LogLevel } from '../model/config.js';
import { toErrorRecord } from '../model/errors.js';
import type { LogFields, Logger } from '../model/logger.js';

export type { LogFields, Logger } from '../model/logger.js';

/** Where formatted console lines go instead of stderr: called once per line, in order. */
export type LineSink = (line: string) => void;

/** Where buffered console text is written, one chunk per turn: stderr unless a test counts writes. */
export interface LineStream {
  write(chunk: string): unknown;
}

/** Options of a run's logger. */
export interface RunLoggerOptions {
  host: string;
  level?: LogLevel;
  console?: boolean;
  sink?: LineSink;
  /** @internal The console's stream when there is no sink; process.stderr by default. */
  stream?: LineStream;
}

type WrittenLevel = Exclude<LogLevel, 'silent'>;

/** pino's level numbers, which the JSON lines have always carried. */
const LEVEL_NUMBERS: Record<WrittenLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };
const LEVEL_NAMES: Record<WrittenLevel, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

/** A long turn (a chain of steps that never wait for I/O is one turn) is written in pieces of about this size, so that its lines stay timely and its buffer bounded. */
const MAX_BUFFERED = 1 << 16;

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** Local time as the Python Eventor printed it: `2026-11-23 10:07:48,612`. */
export function formatTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`
  );
}

let consoleStream: { write(text: string): unknown } | undefined;

/**
 * Where every run's console lines go when its options name no stream: the CLI's live progress
 * block takes them, so that it can lift itself above each batch of lines and redraw under them. @internal
 */
export function setConsoleStream(stream: { write(text: string): unknown } | undefined): void {
  consoleStream = stream;
}

/** One console line in the seed's layout: `[ time ][ host ][ name ][ LEVEL ][ message ]`. */
export function formatLine(level: LogLevel, host: string, name: string, message: string, at = new Date()): string {
  return layout(formatTime(at), host, name, level.toUpperCase(), message);
}

const layout = (time: string, host: string, name: string, level: string, message: string) => `[ ${time} ][ ${host} ][ ${name} ][ ${level} ][ ${message} ]`;

/** `,"key":value` for each defined value, in key order: how pino wrote its base and a child's bindings. */
function bindingsOf(fields: Record<string, unknown>): string {
  let text = '';
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (value !== undefined) text += `,${JSON.stringify(key)}:${JSON.stringify(value)}`;
  }
  return text;
}

/** Loggers with lines waiting for the end of the turn: written synchronously if the process exits first. */
const waiting = new Set<RunLogger>();
let exitHooked = false;

function holdUntilExit(logger: RunLogger): void {
  if (!exitHooked) {
    exitHooked = true;
    // One listener for every logger of the process, not one each: a test process makes hundreds.
    process.on('exit', () => {
      for (const held of waiting) {
        try {
          held.flush();
        } catch {
          // One logger whose stream is gone must not keep the others' lines from their files.
        }
      }
    });
  }
  waiting.add(logger);
}

/**
 * The logger of a run: console lines in the seed's format from `level` up, and, once a file is
 * attached, the same records as JSON lines (pino's layout) with runId, recovery, step, sequence and host.
 * Lines are written once per turn of the event loop, and at once for an error, at `flush()`,
 * `close()` and process exit, so that logging stays off a task's path and a crash loses no failure.
 */
export class RunLogger {
  private readonly threshold: number;
  private readonly sink: LineSink | undefined;
  private readonly toConsole: boolean;
  private consoleText = '';
  private fileText = '';
  private fd: number | undefined;
  private path = '';
  /** The run's fields of every JSON line (runId, recovery, host), serialised once per attached file. */
  private fileBase = '';
  private fileBaseFields: { runId: string; recovery: number } | undefined;
  private readonly fileBases = new Map<string, string>();
  private scheduled = false;
  private sinkError = false;
  /** The formatted times of the last millisecond that logged: a turn's lines mostly share one. */
  private lastMs = Number.NaN;
  private lastConsoleTime = '';
  private lastIsoTime = '';
  /** The root logger, named after the run. */
  readonly root: Logger;

  constructor(
    name: string,
    private readonly options: RunLoggerOptions,
  ) {
    this.threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
    this.toConsole = options.console !== false;
    this.sink = this.toConsole ? options.sink : undefined;
    this.root = new NamedLogger(this, name, {});
  }

  /** Writes JSON lines to `path` from now on; every line carries `base` (runId, recovery). */
  attachFile(path: string, base: { runId: string; recovery: number }): void {
    this.flush();
    this.closeFile();
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
    this.path = path;
    this.fileBaseFields = base;
    this.fileBase = bindingsOf({ ...base, host: this.options.host });
    this.fileBases.clear();
  }

  /** The run's fields of a line from another host (a step on an agent): the same, with its host. */
  private fileBaseOf(host: string | undefined): string {
    if (host === undefined) return this.fileBase;
    let base = this.fileBases.get(host);
    if (base === undefined) this.fileBases.set(host, (base = bindingsOf({ ...this.fileBaseFields, host })));
    return base;
  }

  /** Writes every line held so far, synchronously: the runtime calls it when a run stops. */
  flush(): void {
    if (this.consoleText) {
      const text = this.consoleText;
      this.consoleText = '';
      (this.options.stream ?? consoleStream ?? process.stderr).write(text);
    }
    if (this.fileText) {
      const text = this.fileText;
      this.fileText = '';
      if (this.fd !== undefined) this.writeFile(text);
    }
  }

  /** Writes what is held and closes the file; console lines logged later are still written. */
  async close(): Promise<void> {
    this.flush();
    this.closeFile();
  }

  /** @internal */
  write(level: WrittenLevel, logger: NamedLogger, message: string): void {
    if (LOG_LEVELS.indexOf(level) < this.threshold) return;
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      const at = new Date(now);
      this.lastConsoleTime = formatTime(at);
      this.lastIsoTime = at.toISOString();
    }
    if (this.toConsole) {
      const line = layout(this.lastConsoleTime, logger.host ?? this.options.host, logger.name, LEVEL_NAMES[level], message);
      // A sink is a function of the caller's: it gets each line at once, so that what it keeps is never behind.
      if (this.sink) this.toSink(line);
      else this.consoleText += `${line}\n`;
    }
    if (this.fd !== undefined) {
      this.fileText += `{"level":${LEVEL_NUMBERS[level]},"time":"${this.lastIsoTime}"${this.fileBaseOf(logger.host)}${logger.fileBindings()},"msg":${JSON.stringify(String(message))}}\n`;
    }
    // An error is often the last thing a crashing process says: it must be out before anything else runs.
    if (level === 'error' || this.consoleText.length + this.fileText.length > MAX_BUFFERED) this.flush();
    else if (!this.scheduled && (this.consoleText || this.fileText)) this.schedule();
  }

  /** @internal */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.threshold && (this.toConsole || this.fd !== undefined);
  }

  /** @internal */
  child(name: string, fields: LogFields): Logger {
    return new NamedLogger(this, name, fields);
  }

  private schedule(): void {
    this.scheduled = true;
    holdUntilExit(this);
    setImmediate(this.endOfTurn);
  }

  private readonly endOfTurn = () => {
    this.scheduled = false;
    waiting.delete(this);
    this.flush();
  };

  private toSink(line: string): void {
    try {
      this.sink!(line);
    } catch (error) {
      this.sinkFailed(error);
    }
  }

  /** A log sink that throws must not take the run down: its error is told once on stderr, and the run goes on. */
  private sinkFailed(error: unknown): void {
    if (this.sinkError) return;
    this.sinkError = true;
    process.stderr.write(`eventor: the logSink threw (${toErrorRecord(error).message}); the run goes on, and lines it could not take are lost. Further errors of the sink are not shown\n`);
  }

  private writeFile(text: string): void {
    const bytes = Buffer.from(text);
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.fd!, bytes, done);
    } catch (error) {
      // A full disk must not stop the run either: say so once, and log to the console only.
      process.stderr.write(`eventor: cannot write the log file ${this.path} (${toErrorRecord(error).message}); the run goes on without it\n`);
      this.closeFile();
    }
  }

  private closeFile(): void {
    const fd = this.fd;
    this.fd = undefined;
    this.fileText = '';
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {
      // Already closed or gone: nothing is left to write to it.
    }
  }
}

/** A logger under one name: methods on a prototype, since one is made for every task that logs. */
class NamedLogger implements Logger {
  /** Its fields and name as a JSON fragment, made when it first writes to a file rather than on every line. */
  private bindings: string | undefined;
  /** @internal The host its lines come from, when not this one. */
  readonly host: string | undefined;

  constructor(
    private readonly run: RunLogger,
    readonly name: string,
    private readonly fields: LogFields,
  ) {
    this.host = fields.host;
  }

  enabled(level: LogLevel): boolean {
    return this.run.enabled(level);
  }

  debug(message: string): void {
    this.run.write('debug', this, message);
  }

  info(message: string): void {
    this.run.write('info', this, message);
  }

  warn(message: string): void {
    this.run.write('warn', this, message);
  }

  error(message: string): void {
    this.run.write('error', this, message);
  }

  flush(): void {
    this.run.flush();
  }

  child(name: string, fields: LogFields = {}): Logger {
    return this.run.child(name, { ...this.fields, ...fields });
  }

  /** @internal */
  fileBindings(): string {
    return (this.bindings ??= bindingsOf({ ...this.fields, host: undefined, logger: this.name }));
  }
}
