import { Injectable, Optional } from '@nestjs/common';
import { Counter, Histogram, Registry } from 'prom-client';

export type CacheResult = 'hit' | 'miss' | 'stale';

/** Per proxy namespace: cache results, upstream requests by status, upstream bytes, fill latency. */
@Injectable()
export class ProxyMetrics {
  private readonly results?: Counter<'namespace' | 'kind' | 'result'>;
  private readonly upstream?: Counter<'namespace' | 'status'>;
  private readonly bytes?: Counter<'namespace'>;
  private readonly fills?: Histogram<'namespace' | 'outcome'>;

  constructor(@Optional() registry?: Registry) {
    if (!registry) return;
    const registers = [registry];
    this.results = new Counter({
      name: 'berth_proxy_requests_total',
      help: 'Pulls from proxy namespaces, by kind (manifest, blob, referrers) and result: hit (from the cache), miss (from upstream), stale (cached, upstream failing)',
      labelNames: ['namespace', 'kind', 'result'],
      registers,
    });
    this.upstream = new Counter({
      name: 'berth_proxy_upstream_requests_total',
      help: 'Requests to upstream registries, by status (the HTTP status, or "error" when none came)',
      labelNames: ['namespace', 'status'],
      registers,
    });
    this.bytes = new Counter({ name: 'berth_proxy_upstream_bytes_total', help: 'Blob bytes received from upstream registries', labelNames: ['namespace'], registers });
    this.fills = new Histogram({
      name: 'berth_proxy_fill_seconds',
      help: 'Time to fetch, verify and store one blob from upstream, by outcome',
      labelNames: ['namespace', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
  }

  served(namespace: string, kind: 'manifest' | 'blob' | 'referrers', result: CacheResult): void {
    this.results?.inc({ namespace, kind, result });
  }

  upstreamAnswered(namespace: string, status: number | 'error'): void {
    this.upstream?.inc({ namespace, status: String(status) });
  }

  received(namespace: string, bytes: number): void {
    this.bytes?.inc({ namespace }, bytes);
  }

  filled(namespace: string, outcome: 'stored' | 'failed', seconds: number): void {
    this.fills?.observe({ namespace, outcome }, seconds);
  }
}
