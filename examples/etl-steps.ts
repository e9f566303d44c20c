// The step code of examples/etl.machine.json. The machine config names these exports in its
// steps' `meta.eventor.func`, and its `meta.eventor.implementations` points at this file, so
// `eventor run examples/etl.machine.json` (or `loadMachineConfig`) finds them here.
import { currentStep } from 'eventor';

/** Rows extracted in this process, by sequence and database: what transform joins. */
const staged = new Map<string, Map<string, string[]>>();
/** Rows transformed, by sequence: what load writes. */
const transformed = new Map<string, string[]>();

/** Extracts `rows` rows of a database for the task's sequence. */
export async function extract(database: string, { rows }: { rows: number }): Promise<number> {
  const { sequence, logger } = currentStep();
  await new Promise((resolve) => setTimeout(resolve, 10));
  const extracted = Array.from({ length: rows }, (_, index) => `${database}:${sequence}:${index + 1}`);
  const byDatabase = staged.get(sequence) ?? new Map<string, string[]>();
  staged.set(sequence, byDatabase.set(database, extracted));
  logger.info(`extracted ${rows} rows of ${database}`);
  return rows;
}

/** Joins what the extracts of the sequence staged. */
export function transform(): number {
  const { sequence, logger } = currentStep();
  const byDatabase = staged.get(sequence);
  if (!byDatabase || byDatabase.size === 0) throw new Error(`nothing was extracted for sequence ${sequence} in this process: run the extracts first`);
  const rows = [...byDatabase.values()].flat().sort();
  transformed.set(sequence, rows);
  logger.info(`joined ${rows.length} rows of ${[...byDatabase.keys()].join(' and ')}`);
  return rows.length;
}

/** Writes the transformed rows of the sequence to a table. */
export function load(table: string): string {
  const { sequence, logger } = currentStep();
  const rows = transformed.get(sequence) ?? [];
  logger.info(`loaded ${rows.length} rows into ${table}`);
  return `${table}: ${rows.length} rows`;
}

/** Runs when any step of the ETL fails: the failure trigger that makes the failure handled. */
export function alert(): void {
  const { sequence, logger } = currentStep();
  logger.warn(`the ETL of sequence ${sequence} failed: see the failed step above, then recover the run`);
}
