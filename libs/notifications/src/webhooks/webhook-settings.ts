import { fieldError } from '@berth/auth';
import type { EventAction } from '../registry-event.js';
import { MAX_WEBHOOK_HEADERS, type WebhookHeaders, headerNameProblem, headerValueProblem } from './webhook-headers.js';
import { repositoryPatternProblem } from './repository-pattern.js';
import type { WebhookScope } from './webhook-scope.js';

export const WEBHOOK_ACTIONS = ['push', 'pull', 'mount', 'delete'] as const satisfies readonly EventAction[];

export const WEBHOOK_LIMITS = {
  nameMax: 100,
  urlMax: 2048,
  secretMin: 16,
  secretMax: 256,
  timeoutMs: { min: 100, max: 30_000, default: 5000 },
  maxAttempts: { min: 1, max: 50, default: 10 },
  ignoredMediaTypesMax: 50,
  mediaTypeMax: 255,
} as const;

/** What a subscription is, apart from its secret. */
export interface WebhookSettings {
  name: string;
  url: string;
  headers: WebhookHeaders;
  /** null: every action. */
  actions: EventAction[] | null;
  ignoredMediaTypes: string[];
  /** null: every repository the subscription may see. */
  repositoryPattern: string | null;
  enabled: boolean;
  timeoutMs: number;
  maxAttempts: number;
}

export interface NewWebhook extends Partial<Omit<WebhookSettings, 'name' | 'url' | 'headers'>> {
  name: string;
  url: string;
  /** Absent: 32 random bytes are generated. Either way the answer shows it this once. */
  secret?: string;
  headers?: WebhookHeaders | null;
}

/** A partial update; `headers` replaces the whole set (a masked value keeps that header's current value). */
export type WebhookChanges = Partial<Omit<WebhookSettings, 'headers'>> & { headers?: WebhookHeaders | null };

export function withDefaults(input: NewWebhook): WebhookSettings {
  return {
    name: input.name,
    url: input.url,
    headers: input.headers ?? {},
    actions: input.actions ?? null,
    ignoredMediaTypes: input.ignoredMediaTypes ?? [],
    repositoryPattern: input.repositoryPattern ?? null,
    enabled: input.enabled ?? true,
    timeoutMs: input.timeoutMs ?? WEBHOOK_LIMITS.timeoutMs.default,
    maxAttempts: input.maxAttempts ?? WEBHOOK_LIMITS.maxAttempts.default,
  };
}

/** RFC 6838 type/subtype names (no parameters: events carry bare media types). */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

/**
 * Checks the meaning of a subscription (the request schema checks shapes) and
 * returns it normalised: duplicates dropped, the name trimmed. The URL's target is
 * checked separately, by the TargetPolicy.
 */
export function checkWebhookSettings(scope: WebhookScope, settings: WebhookSettings): WebhookSettings {
  const name = settings.name.trim();
  if (!name.length || name.length > WEBHOOK_LIMITS.nameMax || /\p{Cc}/u.test(name)) {
    throw fieldError('name', `must be 1-${WEBHOOK_LIMITS.nameMax} characters without control characters`);
  }
  checkWebhookUrl(settings.url);
  const headerNames = Object.keys(settings.headers);
  if (headerNames.length > MAX_WEBHOOK_HEADERS) throw fieldError('headers', `may hold at most ${MAX_WEBHOOK_HEADERS} headers`);
  const seen = new Set<string>();
  for (const header of headerNames) {
    const problem = headerNameProblem(header) ?? headerValueProblem(settings.headers[header]);
    if (problem) throw fieldError(`headers.${header}`, problem);
    if (seen.has(header.toLowerCase())) throw fieldError(`headers.${header}`, 'is given twice (header names ignore case)');
    seen.add(header.toLowerCase());
  }
  const actions = settings.actions && [...new Set(settings.actions)];
  if (actions) {
    if (!actions.length) throw fieldError('actions', 'must list at least one action, or be null for all of them');
    const unknown = actions.findIndex((a) => !WEBHOOK_ACTIONS.includes(a));
    if (unknown >= 0) throw fieldError(`actions.${unknown}`, `must be one of ${WEBHOOK_ACTIONS.join(', ')}`);
  }
  const ignoredMediaTypes = [...new Set(settings.ignoredMediaTypes)];
  if (ignoredMediaTypes.length > WEBHOOK_LIMITS.ignoredMediaTypesMax) {
    throw fieldError('ignoredMediaTypes', `may hold at most ${WEBHOOK_LIMITS.ignoredMediaTypesMax} media types`);
  }
  ignoredMediaTypes.forEach((mediaType, i) => {
    if (mediaType.length > WEBHOOK_LIMITS.mediaTypeMax || !MEDIA_TYPE.test(mediaType)) {
      throw fieldError(`ignoredMediaTypes.${i}`, 'must be a media type such as application/vnd.oci.image.manifest.v1+json');
    }
  });
  if (settings.repositoryPattern !== null) checkPattern(scope, settings.repositoryPattern);
  checkRange('timeoutMs', settings.timeoutMs, WEBHOOK_LIMITS.timeoutMs);
  checkRange('maxAttempts', settings.maxAttempts, WEBHOOK_LIMITS.maxAttempts);
  return { ...settings, name, actions, ignoredMediaTypes };
}

export function checkSecret(secret: string): void {
  if (secret.length < WEBHOOK_LIMITS.secretMin || secret.length > WEBHOOK_LIMITS.secretMax || /\p{Cc}/u.test(secret)) {
    throw fieldError('secret', `must be ${WEBHOOK_LIMITS.secretMin}-${WEBHOOK_LIMITS.secretMax} characters without control characters`);
  }
}

/** The URL is shown in listings, so credentials in it would leak: they belong in an (encrypted) header. */
export function checkWebhookUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw fieldError('url', 'must be an absolute http:// or https:// URL');
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || url.length > WEBHOOK_LIMITS.urlMax) {
    throw fieldError('url', `must be an absolute http:// or https:// URL of at most ${WEBHOOK_LIMITS.urlMax} characters`);
  }
  if (parsed.username || parsed.password) {
    throw fieldError('url', 'must not hold credentials: send them in a custom header (for example Authorization), which is stored encrypted');
  }
}

function checkPattern(scope: WebhookScope, pattern: string): void {
  const problem = repositoryPatternProblem(pattern);
  if (problem) throw fieldError('repositoryPattern', problem);
  if (scope.kind === 'namespace' && !pattern.startsWith(`${scope.namespace}/`)) {
    throw fieldError('repositoryPattern', `must start with ${scope.namespace}/ (a namespace's subscription sees only its repositories)`);
  }
}

function checkRange(field: string, value: number, range: { min: number; max: number }): void {
  if (!Number.isInteger(value) || value < range.min || value > range.max) {
    throw fieldError(field, `must be a whole number from ${range.min} to ${range.max}`);
  }
}
