import { existsSync } from 'node:fs';

const SETPRIV = '/usr/bin/setpriv';
const available = process.platform === 'linux' && existsSync(SETPRIV);

/**
 * The command line that runs `command` so that the kernel kills it when this process
 * dies, however it dies (an interrupted or SIGKILLed test run included): setpriv sets
 * the parent-death signal, then execs the command, which keeps its PID. Without
 * setpriv (not Linux) the command runs as it is.
 */
export function tiedToThisProcess(command: string, args: string[]): [string, string[]] {
  return available ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, args];
}
