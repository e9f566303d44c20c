#!/bin/sh
# The whole test suite, as `npm test` runs it: system packages the tests need, a type-checked
# build, then every test file under Node's own test runner, reported one line per file.
set -e
cd "$(dirname "$0")/.."
sh scripts/install-system-deps.sh
npm run -s build
npx tsc -p tsconfig.test.json
exec node --import tsx --test --test-concurrency=2 --test-reporter=./scripts/test-reporter.mjs test/*.test.ts
