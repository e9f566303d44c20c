import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ErrorRecord } from '../model/errors.js';

/** The URL a step's `module` names: a path (relative to the current directory) or a package name. */
export function moduleUrl(module: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(module)) return module;
  if (module.startsWith('.') || isAbsolute(module)) return pathToFileURL(resolve(module)).href;
  return module;
}

/** An Error rebuilt from its plain record, so that name, message and stack survive the crossing. */
export function errorFromRecord(record: ErrorRecord): Error {
  const error = new Error(record.message);
  error.name = record.name;
  if (record.stack) error.stack = record.stack;
  return error;
}

/** The entry file of a thread or child process, in ./entry: `.ts` when running from source, `.js` when built. */
export function runnerUrl(name: string): URL {
  return new URL(`./entry/${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
}

/** Whether a path or URL names a TypeScript file, which needs tsx to load. */
export function isTypeScript(path: string): boolean {
  return /\.[cm]?tsx?$/.test(path);
}

/**
 * The parent's Node options that a worker or child process needs too (loaders such as tsx),
 * and no others; plus tsx when the step's module is TypeScript and nothing loads it yet.
 */
export function inheritedExecArgv(module?: string): string[] {
  const kept: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (['--import', '--require', '-r', '--loader', '--experimental-loader'].includes(arg) && i + 1 < argv.length) kept.push(arg, argv[++i]);
    else if (/^--(import|require|loader|experimental-loader)=/.test(arg) || arg === '--enable-source-maps' || arg === '--no-warnings') kept.push(arg);
  }
  if (module && isTypeScript(module) && !kept.some((arg) => arg.includes('tsx'))) kept.push('--import', import.meta.resolve('tsx'));
  return kept;
}
