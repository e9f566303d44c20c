#!/usr/bin/env node
// The `eventor` command: a committed, executable file, so that the link npm makes works before and after the build.
import "../dist/cli/main.js";
