import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { Injectable, type OnModuleDestroy } from '@nestjs/common';
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

/** Idle connections are dropped after 4 s, before a typical server (Node: 5 s) closes them under a new request. */
const KEEP_ALIVE = { keepAlive: true, timeout: 4000 };

/**
 * One HTTP attempt: POST of the signed body, 2xx is success. Redirects are not
 * followed (a redirect could lead to a target the policy refuses), the socket
 * connects only to addresses the policy allows (its `lookup`), and the whole attempt
 * is bounded by the subscription's timeout. Connections are kept alive between
 * attempts to the same subscriber.
 */
@Injectable()
export class WebhookSender implements OnModuleDestroy {
  private readonly agents = { http: new HttpAgent(KEEP_ALIVE), https: new HttpsAgent(KEEP_ALIVE) };

  constructor(private readonly targets: TargetPolicy) {}

  onModuleDestroy(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  async send(target: WebhookTarget, ids: { delivery: string; event: string }, body: string): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      this.targets.assertAllowedUrl(target.url);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(target.headers)) headers[name.toLowerCase()] = value;
      // Set after the custom headers, so that none of these can be overridden.
      headers['content-type'] = EVENTS_MEDIA_TYPE;
      headers['content-length'] = String(Buffer.byteLength(body));
      headers['user-agent'] = WEBHOOK_USER_AGENT;
      headers[WEBHOOK_HEADERS.delivery.toLowerCase()] = ids.delivery;
      headers[WEBHOOK_HEADERS.event.toLowerCase()] = ids.event;
      headers[WEBHOOK_HEADERS.signature.toLowerCase()] = signWebhookBody(target.secret, body);
      const statusCode = await this.post(new URL(target.url), headers, body, target.timeoutMs);
      if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode, durationMs: elapsed(), error: null, refused: false };
      const error = statusCode >= 300 && statusCode < 400 ? `HTTP ${statusCode}: redirects are not followed` : `HTTP ${statusCode}`;
      return { ok: false, statusCode, durationMs: elapsed(), error, refused: false };
    } catch (err) {
      return { ok: false, statusCode: null, durationMs: elapsed(), error: errorText(err), refused: err instanceof TargetNotAllowedError };
    }
  }

  /** The response status; the body is read and discarded. Lookup, connect, request and response share the timeout. */
  private post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
    const https = url.protocol === 'https:';
    let timer: NodeJS.Timeout | undefined;
    return new Promise<number>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(
        url,
        { method: 'POST', headers, agent: https ? this.agents.https : this.agents.http, lookup: this.targets.lookup },
        (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.once('error', reject);
        },
      );
      timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
      req.once('error', reject);
      req.end(body);
    }).finally(() => clearTimeout(timer));
  }
}

function errorText(err: unknown): string {
  const error = err as NodeJS.ErrnoException;
  const text = error?.message || error?.code || String(err);
  return text.length > ERROR_MAX ? `${text.slice(0, ERROR_MAX - 1)}…` : text;
}
