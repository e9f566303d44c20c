// The no-op step of the worker rows: a module + export, as a worker step names it.
export function noop(n) {
  return n;
}
