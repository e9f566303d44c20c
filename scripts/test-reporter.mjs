// A short report for `npm test`: one line per test file, the failures in full, and a summary
// line ("N passed, N failed") that any reader of CI logs understands.
import { relative } from 'node:path';
import { inspect } from 'node:util';

const files = new Map();
const failures = [];

function fileOf(data) {
  const name = data.file ? relative(process.cwd(), data.file) : '(no file)';
  let file = files.get(name);
  if (!file) files.set(name, (file = { name, passed: 0, failed: 0, skipped: 0, todo: 0, ms: 0 }));
  return file;
}

/** Test names from the file down to the test, so that a failure in a subtest says where it is. */
const path = [];
/** Whether the test at each depth has subtests: then only they count, not the test around them. */
const parents = [];

function describeError(error) {
  // The runner wraps what the test threw; its cause is what the test author wants to see.
  const cause = error?.code === 'ERR_TEST_FAILURE' && error.cause !== undefined ? error.cause : error;
  const text = typeof cause === 'object' && cause !== null && typeof cause.stack === 'string' ? cause.stack : inspect(cause, { depth: 4 });
  return text
    .split('\n')
    .filter((line) => !/^\s+at .*(node:internal|node:async_hooks)/.test(line))
    .join('\n');
}

export default async function* reporter(source) {
  for await (const event of source) {
    const { type, data } = event;
    if (type === 'test:start') {
      path[data.nesting] = data.name;
      path.length = data.nesting + 1;
      if (data.nesting > 0) parents[data.nesting - 1] = true;
      parents[data.nesting] = false;
    } else if (type === 'test:pass' || type === 'test:fail') {
      // A suite's or a parent's own pass or fail repeats what its subtests said; only leaves count.
      const parent = parents[data.nesting];
      parents[data.nesting] = false;
      if (data.details?.type === 'suite' || (parent && data.details?.error?.failureType !== 'hookFailed' && (type === 'test:pass' || data.details?.error?.failureType === 'subtestsFailed'))) continue;
      const file = fileOf(data);
      if (data.nesting === 0) file.ms += data.details?.duration_ms ?? 0;
      if (data.skip !== undefined) file.skipped++;
      else if (data.todo !== undefined) file.todo++;
      else if (type === 'test:pass') file.passed++;
      else {
        file.failed++;
        failures.push({ file: file.name, name: [...path.slice(0, data.nesting), data.name].join(' > '), error: describeError(data.details?.error) });
      }
    } else if (type === 'test:diagnostic' && /^(tests|pass|fail|suites|cancelled|skipped|todo|duration_ms) /.test(data.message)) {
      // The runner's own totals: the summary below says the same in one line.
    } else if (type === 'test:diagnostic' && data.nesting === 0 && data.file === undefined) {
      yield `${data.message}\n`;
    }
  }
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of [...files.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    passed += file.passed;
    failed += file.failed;
    skipped += file.skipped + file.todo;
    const extra = [file.failed ? `${file.failed} failed` : '', file.skipped ? `${file.skipped} skipped` : '', file.todo ? `${file.todo} todo` : ''].filter(Boolean).join(', ');
    yield `${file.failed ? '✖' : '✔'} ${file.name}: ${file.passed} passed${extra ? `, ${extra}` : ''} (${(file.ms / 1000).toFixed(1)} s)\n`;
  }
  for (const failure of failures) yield `\n✖ ${failure.file} > ${failure.name}\n${failure.error.replace(/^/gm, '    ')}\n`;
  yield `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}
