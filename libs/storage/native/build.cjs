'use strict';
// Builds the addon with the node-gyp npm provides to install scripts. Headers installed beside
// this node (Debian's nodejs, the official images, nvm) are used as they are, so the build works
// offline; otherwise node-gyp fetches them.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { resolve } = require('node:path');

const headers = resolve(process.execPath, '../../include/node');
const args = ['rebuild'];
if (existsSync(resolve(headers, 'node_api.h'))) args.push(`--nodedir=${resolve(headers, '../..')}`);
const gyp = process.env.npm_config_node_gyp;
const result = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: true });
process.exit(result.status ?? 1);
