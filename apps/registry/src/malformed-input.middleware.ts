import type { NextFunction, Request, Response } from 'express';
import { CredentialService } from '@berth/auth';
import { RegistryError } from '@berth/core';

/**
 * One early check of what every route reads: the path, the query, Basic credentials
 * and a parsed body. A NUL byte can name nothing here (Postgres refuses it in text),
 * and a path that is not valid percent-encoding names nothing either: both are a 400
 * with a message, before any route, guard or query runs. The error goes to the
 * exception filter, which answers in the format of the route's family.
 */
export function refuseMalformedInput(req: Request, _res: Response, next: NextFunction): void {
  const problem = pathProblem(req.path) ?? queryProblem(req.query) ?? credentialsProblem(req.headers.authorization) ?? bodyProblem(req.body);
  next(problem);
}

function pathProblem(path: string): RegistryError | undefined {
  // Node's parser refuses a raw NUL in the request line: only percent-encoding can carry one.
  if (!path.includes('%')) return undefined;
  const segments = path.split('/');
  for (const [index, segment] of segments.entries()) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return refused(segments, index, 'the request path is not valid percent-encoding');
    }
    if (decoded.includes('\0')) return refused(segments, index, 'the request path holds a NUL byte');
  }
  return undefined;
}

/** `/v2/<name>/…` (the name is one segment by then, see rewriteV2Path): a bad name is NAME_INVALID. */
function refused(segments: string[], index: number, message: string): RegistryError {
  const inName = segments[1] === 'v2' && index === 2 && segments.length > 3;
  return new RegistryError(inName ? 'NAME_INVALID' : 'BAD_REQUEST', message);
}

function queryProblem(query: unknown): RegistryError | undefined {
  const field = nulField(query);
  return field === undefined ? undefined : new RegistryError('BAD_REQUEST', `the query parameter ${field} holds a NUL byte`);
}

function credentialsProblem(authorization: string | undefined): RegistryError | undefined {
  const basic = CredentialService.parseBasic(authorization);
  if (basic?.username.includes('\0')) return new RegistryError('BAD_REQUEST', 'the username holds a NUL byte');
  if (basic?.password.includes('\0')) return new RegistryError('BAD_REQUEST', 'the password holds a NUL byte');
  return undefined;
}

function bodyProblem(body: unknown): RegistryError | undefined {
  const field = nulField(body);
  return field === undefined ? undefined : new RegistryError('BAD_REQUEST', `the request body field ${field} holds a NUL byte`);
}

/**
 * The first field (a dotted path, the offending part left out) whose name or string
 * value holds a NUL byte. Walked with a stack, not recursion: a deeply nested body
 * must not exhaust the call stack.
 */
function nulField(root: unknown): string | undefined {
  if (typeof root === 'string') return root.includes('\0') ? '(value)' : undefined;
  const stack: { value: unknown; path: string }[] = [{ value: root, path: '' }];
  while (stack.length) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\0')) return path || '(value)';
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        if (key.includes('\0')) return path || '(name)';
        // Names come from the client: only a bounded prefix goes into the message.
        stack.push({ value: child, path: (path ? `${path}.${key}` : key).slice(0, 100) });
      }
    }
  }
  return undefined;
}
