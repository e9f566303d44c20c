import { LOG_LEVELS, type LogLevel } from '../model/config.js';

/** What steps and the runtime log through; lines carry the name of who logged them. */
export interface Logger {
  readonly name: string;
  enabled(level: LogLevel): boolean;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** A logger that writes to the same place under another name (`Task-s1(1)`). */
  child(name: string): Logger;
}

/** Where formatted lines go; the console by default. */
export type LineSink = (line: string) => void;

/** Options of a console logger. */
export interface ConsoleLoggerOptions {
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

/** One log line in the seed's layout: `[ time ][ name ][ LEVEL ][ message ]`. */
export function formatLine(level: LogLevel, name: string, message: string, at = new Date()): string {
  return `[ ${formatTime(at)} ][ ${name} ][ ${level.toUpperCase()} ][ ${message} ]`;
}

/** A logger that prints the seed's line format to stderr (or a given sink) from `level` up. */
export function createConsoleLogger(name: string, options: ConsoleLoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.console === false ? 'silent' : (options.level ?? 'info'));
  const sink: LineSink = options.sink ?? ((line) => process.stderr.write(`${line}\n`));
  const make = (loggerName: string): Logger => {
    const log = (level: LogLevel) => (message: string) => {
      if (LOG_LEVELS.indexOf(level) >= threshold) sink(formatLine(level, loggerName, message));
    };
    return {
      name: loggerName,
      enabled: (level) => LOG_LEVELS.indexOf(level) >= threshold,
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: make,
    };
  };
  return make(name);
}
