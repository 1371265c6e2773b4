// Lets `node --import ./test/bench/register.mjs test/bench/bench.ts` run the
// TypeScript bench in-process through tsx's ESM loader. Staying a single
// process (rather than the `tsx` CLI, which spawns a child node) means Ctrl-C
// reaches our own cleanup handler directly.
import { register } from 'tsx/esm/api';

register();
