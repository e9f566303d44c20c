#!/bin/sh
# The whole test suite, as `npm test` runs it: system packages the tests need, a type-checked
# build, then every test file under Node's own test runner, reported one line per file.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-system-deps.sh
npm run -s build
npx tsc -p tsconfig.test.json
marker=$(mktemp)
set +e
node --import tsx --test --test-concurrency=2 --test-reporter=./scripts/test-reporter.mjs test/*.test.ts
status=$?
# What runs under test leave in the project folder (log files in the default logdir, the ETL
# example's output) goes; what was there before the tests stays.
find .eventor examples/out -newer "$marker" -type f -delete 2>/dev/null
find .eventor examples/out -depth -type d -empty -delete 2>/dev/null
rm -f "$marker"
exit $status
