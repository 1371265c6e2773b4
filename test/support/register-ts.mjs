// Runs the TypeScript sources in a child process as the build runs them:
//   node --import ./test/support/register-ts.mjs apps/registry/src/main.ts
// tsx resolves (tsconfig paths, `.js` → `.ts`); TypeScript itself transpiles, because
// tsx's esbuild does not emit the decorator metadata Nest's injection relies on.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered last, so its load hook runs before tsx's.
register('./ts-transpile.hooks.mjs', import.meta.url);
