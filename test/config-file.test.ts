// Configuration files in the seed's layout: EVENTOR, DATABASES and LOGGING sections, with the
// seed's snake_case keys or camelCase, and unknown keys refused by name with what they could have meant.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ConfigError } from '../src/index.js';
import { loadConfigFile } from '../src/dialects/config-file.js';

function file(t: TestContext, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'eventor-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'eventor.yaml');
  writeFileSync(path, text);
  return path;
}

test('the example configuration file: seed keys become run settings, its database the store, its logging the logs', () => {
  const { config, store } = loadConfigFile('examples/eventor.config.yaml');
  assert.deepEqual(config, { envvarPrefix: 'EVENTOR_', stopOnException: true, dayToKeepDb: 5, maxConcurrent: 0, executor: 'process', logdir: resolve('.eventor/logs'), logging: { level: 'info', console: true } });
  assert.equal(store, resolve('.eventor/configured'));
});

test("the seed's own example loads: SQL databases not chosen and seed-only keys are left alone", (t) => {
  const path = file(t, ['EVENTOR:', '  debug: False', '  task_construct: process', '  sequence_arg_name: None', '  remote_method: ssh', '  pass_logger_to_task: False', '  shared_db: False', 'DATABASES:', '  sqfile1:', '    dialect: sqlite', '    database: /tmp/runly.db', '  pgdb1:', '    dialect: postgresql', 'LOGGING:', '  logging_level: 10', '  logdir: /var/log/eventor', '  level_formats:', "    default: '[ %(asctime)-15s ]'", '  file_mode: a', ''].join('\n'));
  const { config, store } = loadConfigFile(path);
  assert.equal(store, undefined);
  assert.deepEqual(config, { executor: 'process', logdir: '/var/log/eventor', logging: { level: 'debug' } });
});

test('camelCase keys work as the seed keys do, and a thread task_construct is a worker', (t) => {
  const { config } = loadConfigFile(file(t, 'EVENTOR:\n  maxConcurrent: 4\n  stopOnException: false\n  task_construct: thread\n  nats: { servers: nats://127.0.0.1:4222 }\n'));
  assert.deepEqual(config, { maxConcurrent: 4, stopOnException: false, executor: 'worker', nats: { servers: 'nats://127.0.0.1:4222' } });
});

test('an unknown key is a ConfigError naming it and the keys it could have meant', (t) => {
  for (const [text, key, meant] of [
    ['EVENTOR:\n  max_concurent: 3\n', 'EVENTOR.max_concurent', /did you mean max_concurrent/],
    ['EVENTOR:\n  stopOnExeption: true\n', 'EVENTOR.stopOnExeption', /did you mean stopOnException/],
    ['LOGGING:\n  loging_level: 10\n', 'LOGGING.loging_level', /did you mean logging_level/],
    ['EVENTR:\n  debug: true\n', '(top).EVENTR', /did you mean EVENTOR/],
  ] as const) {
    assert.throws(() => loadConfigFile(file(t, text)), (error: Error) => error instanceof ConfigError && error.message.includes(key) && meant.test(error.message), text);
  }
});

test('a database that is not one Eventor keeps runs in, or a name DATABASES does not have, is a ConfigError that says what works', (t) => {
  assert.throws(() => loadConfigFile(file(t, 'EVENTOR:\n  database: db\nDATABASES:\n  db: { dialect: sqlite, database: /tmp/x.db }\n')), /leveldb, nats or memory.*not in sqlite/);
  assert.throws(() => loadConfigFile(file(t, 'EVENTOR:\n  database: nope\nDATABASES:\n  db: { dialect: memory }\n')), /EVENTOR\.database.*entry of DATABASES \(db\)/);
  assert.throws(() => loadConfigFile(file(t, 'LOGGING:\n  logging_level: 15\n')), /logging_level.*10, 20, 30, 40/);
  assert.throws(() => loadConfigFile('no/such/eventor.yaml'), /config file is "no\/such\/eventor.yaml": expected a readable YAML file \(ENOENT\)/);
  assert.equal(loadConfigFile(file(t, 'DATABASES:\n  only: { dialect: nats, url: nats://127.0.0.1:4222/runs }\n')).store, 'nats://127.0.0.1:4222/runs');
});
