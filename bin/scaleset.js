#!/usr/bin/env node
'use strict';
// Entry of the `scaleset` command; the code is compiled into dist/ by `npm run build`
// (which `npm ci` runs through the prepare script).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('scaleset is not built yet: run `npm run build` (or `npm ci`) first\n');
  process.exit(1);
}
require(main);
