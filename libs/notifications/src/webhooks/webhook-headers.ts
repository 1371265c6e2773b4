import type { SecretBox } from '../secret-box.js';

/** Custom headers a subscription adds to every delivery: stored encrypted, shown by name only. */
export type WebhookHeaders = Record<string, string>;

export const MAX_WEBHOOK_HEADERS = 20;
export const WEBHOOK_HEADER_NAME_MAX = 100;
export const WEBHOOK_HEADER_VALUE_MAX = 4096;

/** What responses show instead of a header's value; sent back in an update, it keeps the stored value. */
export const MASKED_HEADER_VALUE = '********';

/** RFC 9110 `token`. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Visible ASCII, spaces, tabs and obs-text: no CR, LF or NUL that could split the request. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Headers the delivery sets itself (the body's type and length, who sends it, the
 * signature) or that belong to the connection, not to the message.
 */
const RESERVED = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

/** Why `name` may not be a custom header, or undefined when it may. */
export function headerNameProblem(name: string): string | undefined {
  if (!name.length || name.length > WEBHOOK_HEADER_NAME_MAX || !TOKEN.test(name)) {
    return `must be an HTTP header name (1-${WEBHOOK_HEADER_NAME_MAX} letters, digits and !#$%&'*+-.^_\`|~)`;
  }
  const lower = name.toLowerCase();
  if (lower.startsWith('x-berth-')) return 'X-Berth-* headers are set by the registry';
  if (RESERVED.has(lower)) return `${name} is set by the registry or the connection`;
  return undefined;
}

export function headerValueProblem(value: string): string | undefined {
  if (value.length > WEBHOOK_HEADER_VALUE_MAX) return `must be at most ${WEBHOOK_HEADER_VALUE_MAX} characters`;
  if (!FIELD_VALUE.test(value)) return 'must not contain control characters such as line breaks';
  return undefined;
}

/** The names with masked values: what the API shows of a subscription's headers. */
export function maskHeaders(headers: WebhookHeaders): WebhookHeaders {
  return Object.fromEntries(Object.keys(headers).map((name) => [name, MASKED_HEADER_VALUE]));
}

/** The stored form: one SecretBox token of the JSON map, or null without headers. */
export function sealWebhookHeaders(box: SecretBox, headers: WebhookHeaders): string | null {
  return Object.keys(headers).length ? box.encrypt(JSON.stringify(headers)) : null;
}

/** Reads `webhooks.headers_encrypted` (what the delivery adds to each request). */
export function openWebhookHeaders(box: SecretBox, sealed: string | null): WebhookHeaders {
  return sealed ? (JSON.parse(box.decrypt(sealed)) as WebhookHeaders) : {};
}
