import type { IncomingMessage } from 'node:http';

const ATTEMPTED_LOGIN = Symbol('berth.attemptedLogin');

type AttemptingRequest = IncomingMessage & { [ATTEMPTED_LOGIN]?: string };

/** The username this request tries to log in with (Basic credentials or a login form), for its log line. */
export function setAttemptedLogin(req: IncomingMessage, username: string): void {
  (req as AttemptingRequest)[ATTEMPTED_LOGIN] = username;
}

/** The username the request tried to log in with, if it carried one; never a password. */
export function attemptedLoginOf(req: IncomingMessage): string | undefined {
  return (req as AttemptingRequest)[ATTEMPTED_LOGIN];
}
