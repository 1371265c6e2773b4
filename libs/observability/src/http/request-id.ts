import type { IncomingMessage } from 'node:http';

const REQUEST_ID = Symbol('berth.requestId');

type IdentifiedRequest = IncomingMessage & { [REQUEST_ID]?: string };

/** What a caller or proxy may hand us as a request id: short, and safe in a header and a log line. */
const ACCEPTED_ID = /^[\w.:+=/-]{1,128}$/;

/** The incoming `X-Request-Id` when it is acceptable, else undefined (the caller generates one). */
export function acceptedRequestId(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && ACCEPTED_ID.test(header) ? header : undefined;
}

export function setRequestId(req: IncomingMessage, id: string): void {
  (req as IdentifiedRequest)[REQUEST_ID] = id;
}

/**
 * The id the request is logged under and echoed with (`X-Request-Id`); registry
 * events carry the same one. Undefined only outside the registry's HTTP pipeline.
 */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as IdentifiedRequest)[REQUEST_ID];
}
