import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The exact bytes received, as the signature covers them. */
  body: Buffer;
}

/**
 * A webhook receiver on 127.0.0.1 that records every request and answers with the
 * statuses it is told, in order, then `defaultStatus`.
 */
export class WebhookSubscriber {
  readonly received: ReceivedRequest[] = [];
  defaultStatus = 200;
  /** How long each response waits, to play a slow subscriber. */
  delayMs = 0;
  private readonly answers: number[] = [];

  private constructor(private readonly server: Server) {}

  static async start(): Promise<WebhookSubscriber> {
    const server = createServer();
    const subscriber = new WebhookSubscriber(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        subscriber.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        res.statusCode = subscriber.answers.shift() ?? subscriber.defaultStatus;
        setTimeout(() => res.end('ok'), subscriber.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return subscriber;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** The statuses of the next responses. */
  answer(...statuses: number[]): void {
    this.answers.push(...statuses);
  }

  /** The events of every request received, in order of arrival. */
  events(): { id: string; action: string; target: { repository: string; tag?: string; digest?: string } }[] {
    return this.received.flatMap((r) => JSON.parse(r.body.toString('utf8')).events);
  }

  /** Closes the kept-alive connections of past requests. */
  dropConnections(): void {
    this.server.closeAllConnections();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
