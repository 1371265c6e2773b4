import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import { EVENTS_MEDIA_TYPE } from '../registry-event.js';
import { TargetNotAllowedError, TargetPolicy } from '../target-policy.js';
import { WEBHOOK_USER_AGENT } from './berth-version.js';
import { WEBHOOK_HEADERS, signWebhookBody } from './webhook-signature.js';

/** Where and how one delivery is sent (secret and headers already decrypted). */
export interface WebhookTarget {
  url: string;
  secret: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  /** Short, for webhook_attempts and the delivery's last_error; null on success. */
  error: string | null;
  /** The target policy refused the URL: retrying cannot help. */
  refused: boolean;
}

const ERROR_MAX = 500;

/**
 * One HTTP attempt: POST of the signed body, 2xx is success. Redirects are not
 * followed (a redirect could lead to a target the policy refuses), and the whole
 * attempt, DNS check included, is bounded by the subscription's timeout.
 */
@Injectable()
export class WebhookSender {
  constructor(private readonly targets: TargetPolicy) {}

  async send(target: WebhookTarget, ids: { delivery: string; event: string }, body: string): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const signal = AbortSignal.timeout(target.timeoutMs);
    try {
      await untilAborted(this.targets.assertAllowedAtDelivery(target.url), signal);
      const headers = new Headers(target.headers);
      // Set after the custom headers, so that none of these can be overridden.
      headers.set('Content-Type', EVENTS_MEDIA_TYPE);
      headers.set('User-Agent', WEBHOOK_USER_AGENT);
      headers.set(WEBHOOK_HEADERS.delivery, ids.delivery);
      headers.set(WEBHOOK_HEADERS.event, ids.event);
      headers.set(WEBHOOK_HEADERS.signature, signWebhookBody(target.secret, body));
      const response = await fetch(target.url, { method: 'POST', body, headers, redirect: 'manual', signal });
      // The body is not needed; cancelling it frees the connection.
      await response.body?.cancel().catch(() => undefined);
      const statusCode = response.status;
      if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode, durationMs: elapsed(), error: null, refused: false };
      const error = statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode}: redirects are not followed` : `HTTP ${statusCode}`;
      return { ok: false, statusCode, durationMs: elapsed(), error, refused: false };
    } catch (err) {
      return { ok: false, statusCode: null, durationMs: elapsed(), error: errorText(err, target.timeoutMs), refused: err instanceof TargetNotAllowedError };
    }
  }
}

/** Rejects when `signal` aborts first (a DNS lookup cannot be cancelled, only abandoned). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

function errorText(err: unknown, timeoutMs: number): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  let text: string;
  if (error?.name === 'TimeoutError') text = `timeout after ${timeoutMs} ms`;
  // fetch says only "fetch failed"; the cause says what failed (refused, reset, unknown host…).
  else if (error?.cause) text = error.cause.message || error.cause.code || error.message;
  else text = error?.message ?? String(err);
  return text.length > ERROR_MAX ? `${text.slice(0, ERROR_MAX - 1)}…` : text;
}
