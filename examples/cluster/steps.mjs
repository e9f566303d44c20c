// The code of the cluster example's steps. Agents import it from their --root (this folder);
// the supervisor never needs it. Each step says where it runs and returns plain data.
import { currentStep } from 'eventor';

/** Reads this host's part of the data (here: a few made-up rows). */
export function extract(table) {
  const { host, sequence } = currentStep();
  currentStep().logger.info(`extracting ${table} for night ${sequence} on ${host}`);
  return { host, rows: host.length * 10 };
}

/** Reshapes one night's rows; any agent serving the queue may run it. */
export async function transform(kind) {
  const { host, sequence } = currentStep();
  await new Promise((resolve) => setTimeout(resolve, 20));
  currentStep().logger.info(`transforming night ${sequence} (${kind}) on ${host}`);
  return { host, kind };
}
