// Helpers for plain data as users, flow files and stores hand it to us: what counts as an
// object of named entries, and a walk through nested data that no depth can overflow.

/** Whether `value` is an object of named entries: not null, an array, a function, a Map or a class instance such as a Date. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** One part met by `findInParts`: its value, its name for messages, whether it holds one of its own ancestors, and how deep it is. */
export interface Part<L> {
  value: unknown;
  label: L;
  /** The part is one of the objects on the way down to it: walking into it would never end. */
  cycle: boolean;
  /** Its depth below the root, which is at 0. */
  depth: number;
}

/**
 * Walks the parts of `root` depth first with a stack of its own rather than by recursion, so that
 * no depth of nesting makes the walk itself fail. `partsOf` lists an object's parts; `inspect`
 * sees each one and returns a finding (which ends the walk and is returned), `'descend'` to walk
 * into it, or undefined to pass it by.
 */
export function findInParts<L, R>(root: object, label: L, partsOf: (value: object, label: L) => Iterator<[unknown, L]>, inspect: (part: Part<L>) => R | 'descend' | undefined): R | undefined {
  const ancestors = new Set<object>([root]);
  const stack: { value: object; parts: Iterator<[unknown, L]> }[] = [{ value: root, parts: partsOf(root, label) }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const next = top.parts.next();
    if (next.done) {
      ancestors.delete(top.value);
      stack.pop();
      continue;
    }
    const [value, partLabel] = next.value;
    const cycle = typeof value === 'object' && value !== null && ancestors.has(value);
    const found = inspect({ value, label: partLabel, cycle, depth: stack.length });
    if (found === 'descend') {
      const child = value as object;
      ancestors.add(child);
      stack.push({ value: child, parts: partsOf(child, partLabel) });
    } else if (found !== undefined) return found;
  }
  return undefined;
}
