import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

type HttpLabels = 'method' | 'route' | 'status';

/** Methods kept as label values; anything else a client invents is `other` (bounded cardinality). */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The per-request instruments. Labels are the method, the route template
 * (`/v2/:name/manifests/:reference`, never a repository name) and the status, so
 * the number of series stays bounded whatever clients send.
 */
@Injectable()
export class HttpMetrics {
  private readonly requests: Counter<HttpLabels>;
  private readonly duration: Histogram<HttpLabels>;
  private readonly received: Counter<'method' | 'route'>;
  private readonly sent: Counter<'method' | 'route'>;
  private readonly uploads: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({ name: 'berth_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers });
    this.duration = new Histogram({
      name: 'berth_http_request_duration_seconds',
      help: 'Time from the request reaching the application to its response ending',
      labelNames: ['method', 'route', 'status'],
      // Manifest and token requests take milliseconds; blob transfers take up to minutes.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 120, 600],
      registers,
    });
    this.received = new Counter({ name: 'berth_http_received_bytes_total', help: 'Request body bytes received', labelNames: ['method', 'route'], registers });
    this.sent = new Counter({ name: 'berth_http_sent_bytes_total', help: 'Response bytes sent, headers included', labelNames: ['method', 'route'], registers });
    this.uploads = new Gauge({ name: 'berth_uploads_in_flight', help: 'Blob upload requests currently streaming a body', registers });
  }

  uploadStarted(): void {
    this.uploads.inc();
  }

  uploadEnded(): void {
    this.uploads.dec();
  }

  observe(method: string, route: string, status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const labels = { method: METHODS.has(method) ? method : 'other', route, status: String(status) };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
    if (bytesIn > 0) this.received.inc({ method: labels.method, route }, bytesIn);
    if (bytesOut > 0) this.sent.inc({ method: labels.method, route }, bytesOut);
  }
}
