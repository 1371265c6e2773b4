/** Results: per-round figures and a README-ready markdown table on stdout, every raw figure in results/latest.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { MiB, type BenchConfig, type ConfigName } from './config.js';
import type { Clients } from './neutral-clients.js';
import type { ProxyFigures, ProxyLinkRound, ProxyResult, ProxyRound } from './proxy-figure.js';
import type { WebhookResult } from './webhook-figure.js';
import type { RoundFigures } from './workload.js';
import type { RssReport } from './rss.js';

export interface ConfigResult {
  name: ConfigName;
  /** The configuration, e.g. "Berth, Postgres, Basic". */
  label: string;
  /** The server and its version, e.g. "Distribution 2.8.2". */
  server: string;
  /** failed: a round failed or the server did not start; the rounds before it are kept. */
  status: 'ok' | 'failed' | 'skipped';
  notes: string[];
  rounds: RoundFigures[];
  error?: string;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  /** 1-minute load average when the run started: how busy the shared machine was. */
  loadAverage: number;
  distribution: string | null;
}

export interface RunInfo {
  command: string;
  startedAt: Date;
  machine: MachineInfo;
  clients: Clients;
  webhooks?: WebhookResult;
  proxy?: ProxyResult;
}

interface Figure {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** null: the figure failed in that round. */
  pick: (r: RoundFigures) => number | null;
}

function figures(config: BenchConfig): Figure[] {
  const blob = `${config.blobBytes / MiB} MiB`;
  return [
    { key: 'monolithicPushMiBps', label: `1. monolithic push ${blob}`, unit: 'MiB/s', better: 'higher', pick: (r) => r.monolithicPushMiBps },
    { key: 'chunkedPushMiBps', label: `2. chunked push ${blob} (${config.chunkBytes / MiB} MiB)`, unit: 'MiB/s', better: 'higher', pick: (r) => r.chunkedPushMiBps },
    { key: 'pullMiBps', label: `3. pull ${blob}`, unit: 'MiB/s', better: 'higher', pick: (r) => r.pullMiBps },
    { key: 'imagesPerSec', label: `4. push ${config.images} images, ${config.imageWorkers} clients`, unit: 'images/s', better: 'higher', pick: (r) => r.imagesPerSec },
    { key: 'manifestRps', label: `5. manifest GET, ${config.manifestConnections} conns`, unit: 'req/s', better: 'higher', pick: (r) => r.manifestGet.requestsPerSec },
    { key: 'manifestP99Ms', label: '5. manifest GET p99', unit: 'ms', better: 'lower', pick: (r) => r.manifestGet.p99Ms },
  ];
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Half the min–max range over the median, in %: "±x %". */
function spreadPct(values: number[]): number {
  return values.length < 2 ? 0 : ((Math.max(...values) - Math.min(...values)) / 2 / median(values)) * 100;
}

const r2 = (v: number) => Math.round(v * 100) / 100;
const fmt = (v: number) => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10));

interface Summary {
  /** Distribution's rounds: median and spread (null without a Distribution run, or when a round failed). */
  reference: { values: (number | null)[]; median: number | null; spreadPct: number | null };
  /** Per Berth configuration: round 1 and the warm rounds, as ratios to the reference median (values when there is none). */
  berth: Record<string, { values: (number | null)[]; fresh: number | null; warm: { median: number; min: number; max: number } | null }>;
}

const okValues = (values: (number | null)[]) => (values.some((v) => v === null) ? null : (values as number[]));

function summarise(figure: Figure, results: ConfigResult[]): Summary {
  const dist = results.find((r) => r.name === 'distribution');
  const distValues = dist?.rounds.map(figure.pick) ?? [];
  const distOk = dist?.status === 'ok' ? okValues(distValues) : null;
  const reference = {
    values: distValues,
    median: distOk ? median(distOk) : null,
    spreadPct: distOk ? Math.round(spreadPct(distOk)) : null,
  };
  const berth: Summary['berth'] = {};
  for (const result of results.filter((r) => r.name !== 'distribution')) {
    const values = result.rounds.map(figure.pick);
    const scale = (v: number | null) => (v === null ? null : reference.median ? r2(v / reference.median) : v);
    const warm = okValues(values.slice(1).map(scale));
    berth[result.name] = {
      values,
      fresh: values.length > 0 ? scale(values[0]) : null,
      warm: warm && warm.length > 0 ? { median: r2(median(warm)), min: Math.min(...warm), max: Math.max(...warm) } : null,
    };
  }
  return { reference, berth };
}

function berthCell(s: Summary['berth'][string] | undefined, ratios: boolean): string {
  if (!s || s.values.length === 0) return '-';
  const show = (v: number | null) => (v === null ? 'FAIL' : ratios ? `${v.toFixed(2)}×` : fmt(v));
  const fresh = show(s.fresh);
  if (s.values.length === 1) return fresh;
  if (!s.warm) return `${fresh}, warm FAIL`;
  const range = s.values.length > 2 ? ` (${ratios ? s.warm.min.toFixed(2) : fmt(s.warm.min)}–${show(s.warm.max)})` : '';
  return `${fresh}, ${show(s.warm.median)}${range}`;
}

function referenceCell(s: Summary['reference'], unit: string): string {
  if (s.values.length === 0) return '-';
  if (s.median === null) return 'FAIL';
  return `${fmt(s.median)} ${unit}${s.values.length > 1 ? ` ±${s.spreadPct} %` : ''}`;
}

function cellMeaning(rounds: number): string {
  if (rounds === 1) return 'round 1 of a newly started process ("fresh") only';
  const warm = rounds === 2 ? 'round 2' : `the median of rounds 2–${rounds} (min–max)`;
  return `"fresh, warm": fresh is round 1 of the newly started process, warm ${warm} in the same process`;
}

/** The markdown for the root README: header lines, the ratio table, the memory table. */
export function markdownReport(config: BenchConfig, run: RunInfo, results: ConfigResult[], durationSec: number): string {
  const m = run.machine;
  const dist = results.find((r) => r.name === 'distribution' && r.status === 'ok');
  const berths = results.filter((r) => r.name !== 'distribution');
  const ratios = dist !== undefined;
  const spreads = figures(config)
    .map((f) => summarise(f, results).reference.spreadPct)
    .filter((v): v is number => v !== null);
  const measured =
    `Measured ${run.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC with \`${run.command}\` ` +
    `(${config.rounds} round${config.rounds > 1 ? 's' : ''}${results.length > 0 ? ' per configuration' : ''}, ${Math.round(durationSec / 60)} min in all) ` +
    `on ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel}, node ${m.node}; load average ${m.loadAverage.toFixed(1)} at the start (the machine is shared).`;
  const proxy = run.proxy ? ['', ...proxyMarkdown(config, run.proxy)] : [];
  // BENCH_ONLY=proxy: no configuration ran, so only figure 8's tables.
  if (results.length === 0) return [measured, `Clients: ${run.clients.notes.join('; ')}.`, ...proxy].join('\n');
  const lines = [
    measured,
    dist && config.rounds > 1 && spreads.length
      ? `Noise: Distribution's own rounds spread by ±${Math.min(...spreads)} % to ±${Math.max(...spreads)} % across the figures (half the min–max range over the median).`
      : 'Noise: not measured (needs Distribution and at least 2 rounds).',
    `Clients: ${run.clients.notes.join('; ')}; the ${config.images} small images: undici, ${config.imageWorkers} concurrent, from the bench process. ` +
      `${dist ? `${dist.server} runs without auth.` : ''} Each configuration is one freshly started server process.`,
    `Berth cells: ${ratios ? "Berth / Distribution's median" : 'absolute values (no Distribution run)'}, ${cellMeaning(config.rounds)}.` +
      (ratios ? ' Throughput: > 1× is faster; latency: < 1× is better.' : ''),
    '',
    `| figure | ${dist ? `${dist.server}, median` : 'Distribution'} | ${berths.map((r) => r.label).join(' | ')} |`,
    `| --- | --- |${berths.map(() => ' --- |').join('')}`,
  ];
  for (const figure of figures(config)) {
    const s = summarise(figure, results);
    lines.push(`| ${figure.label} | ${referenceCell(s.reference, figure.unit)} | ${berths.map((r) => berthCell(s.berth[r.name], ratios)).join(' | ')} |`);
  }
  lines.push(
    '',
    `| peak RSS, MiB (process tree, sum of VmHWM) | ${Array.from({ length: config.rounds }, (_, i) => `round ${i + 1}${i === 0 ? ' (fresh)' : ''}`).join(' | ')} |`,
    `| --- |${Array.from({ length: config.rounds }, () => ' --- |').join('')}`,
  );
  const memoryRows = (pick: (rss: RssReport) => number | null) => {
    for (const r of results) {
      const cells = Array.from({ length: config.rounds }, (_, i) => {
        const rss = r.rounds[i]?.rss;
        const value = rss ? pick(rss) : null;
        return value === null ? '-' : fmt(value);
      });
      lines.push(`| ${r.name === 'distribution' ? r.server : r.label} | ${cells.join(' | ')} |`);
    }
  };
  memoryRows((rss) => rss.peakHwmMiB);
  lines.push(
    '',
    `| peak PSS, MiB (process tree, shared pages counted once; sampled every 100 ms) | ${Array.from({ length: config.rounds }, (_, i) => `round ${i + 1}${i === 0 ? ' (fresh)' : ''}`).join(' | ')} |`,
    `| --- |${Array.from({ length: config.rounds }, () => ' --- |').join('')}`,
  );
  memoryRows((rss) => rss.maxSampledPssMiB);
  return [...lines, ...proxy].join('\n');
}

/** Per-round values as a cell: round 1, then the median of the others (min–max), as the main table shows them. */
function roundsCell(values: number[], ratios: boolean): string {
  const warm = values.slice(1);
  return berthCell(
    {
      values,
      fresh: values.length > 0 ? values[0] : null,
      warm: warm.length > 0 ? { median: r2(median(warm)), min: Math.min(...warm), max: Math.max(...warm) } : null,
    },
    ratios,
  );
}

/** Median ± spread over every round's direct pull (all servers' layers). */
function directCell<R extends ProxyRound | ProxyLinkRound>(rounds: R[], pick: (r: R) => number, unit: string): string {
  const values = rounds.map(pick);
  if (values.length === 0) return '-';
  return `${fmt(median(values))} ${unit}${values.length > 1 ? ` ±${Math.round(spreadPct(values))} %` : ''}`;
}

/** Figure 8's markdown: the ratio table (targets beside), the absolute medians, Berth's memory. */
function proxyMarkdown(config: BenchConfig, proxy: ProxyResult): string[] {
  if (proxy.status === 'skipped') return [`Figure 8 (pull-through cache): skipped: ${proxy.error}.`];
  const f = proxy.figures;
  const layer = `${f.layerMiB} MiB`;
  const subjects = f.subjects.filter((s) => s.rounds.length > 0);
  const rounds = subjects.flatMap((s) => s.rounds);
  // 8d/8e: the subjects' link rounds (a subject whose loopback rounds failed has none).
  const linkRounds = subjects.flatMap((s) => s.linkRounds);
  const link = f.link && linkRounds.length > 0 ? f.link : null;
  const linkCells = (pick: (r: ProxyLinkRound) => number) =>
    subjects.map((s) => (s.linkRounds.length ? roundsCell(s.linkRounds.map(pick), true) : '-')).join(' | ');
  const lines = [
    `**Figure 8, pull-through cache**${proxy.status === 'failed' ? ` (FAILED: ${proxy.error}; the rounds that finished are shown)` : ''}: ` +
      `a fresh ${layer} random layer per round and server, pushed to the upstream (${f.upstream}, no auth, on this machine), ` +
      `pulled with the same client as figure 3 straight from the upstream ("direct"), then through each proxy: cold (not cached, the proxy fetches it as it answers), ` +
      `then cached. Cells: each round's ratio to the same round's baseline, ${cellMeaning(config.rounds).replace('newly started process', 'newly started servers')}.` +
      (link
        ? ` 8d/8e: the same with the upstream behind a ${link.MiBps} MiB/s link (a forwarder pacing both directions, shared by all connections, no added latency): ` +
          `the direct pull through it, the proxies (a second proxy namespace in the same Berth, a second Distribution proxy) fetching through it, layers of their own; ` +
          `round r of 8d/8e runs after round r of 8a–8c.`
        : ''),
    '',
    `| figure | target | direct from the upstream, median | ${subjects.map((s) => s.label).join(' | ')} |`,
    `| --- | --- | --- |${subjects.map(() => ' --- |').join('')}`,
    `| 8a. cold pull ${layer} / direct, throughput | ≥ 0.9× | ${directCell(rounds, (r) => r.direct.MiBps, 'MiB/s')} | ${subjects.map((s) => roundsCell(s.rounds.map((r) => r.ratios.coldThroughput), true)).join(' | ')} |`,
    `| 8b. cold pull / direct, time to first byte | ≤ 2× | ${directCell(rounds, (r) => r.direct.ttfbMs, 'ms')} | ${subjects.map((s) => roundsCell(s.rounds.map((r) => r.ratios.coldTtfb), true)).join(' | ')} |`,
    `| 8c. cached pull / a local pull from the same server, throughput | ≈ 1.0× | - | ${subjects.map((s) => roundsCell(s.rounds.map((r) => r.ratios.cachedThroughput), true)).join(' | ')} |`,
    ...(link
      ? [
          `| 8d. cold pull ${layer} / direct, both over a ${link.MiBps} MiB/s link, throughput | ≥ 0.9× | ${directCell(linkRounds, (r) => r.direct.MiBps, 'MiB/s')} | ${linkCells((r) => r.ratios.coldThroughput)} |`,
          `| 8e. cold pull / direct over the link, time to first byte | ≤ 2× | ${directCell(linkRounds, (r) => r.direct.ttfbMs, 'ms')} | ${linkCells((r) => r.ratios.coldTtfb)} |`,
        ]
      : []),
    '',
    "| figure 8, absolute: round 1, median of the rest (min–max) | cold pull, MiB/s | cold pull TTFB, ms | stored, s after the cold pull | cached pull, MiB/s | local pull (8c's baseline), MiB/s | RSS before the cold pull → peak during it (VmHWM), MiB |",
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const values = (s: (typeof subjects)[number], pick: (r: ProxyRound) => number) => s.rounds.map(pick);
  for (const s of subjects) {
    const rss = s.rounds.map((r) => `${r.rssBeforeMiB === null ? '-' : fmt(r.rssBeforeMiB)} → ${r.coldRss.peakHwmMiB === null ? '-' : fmt(r.coldRss.peakHwmMiB)}`).join(', ');
    lines.push(
      `| ${s.label} | ${roundsCell(values(s, (r) => r.cold.MiBps), false)} | ${roundsCell(values(s, (r) => r.cold.ttfbMs), false)} | ` +
        `${roundsCell(values(s, (r) => r.cachedAfterSec), false)} | ${roundsCell(values(s, (r) => r.cached.MiBps), false)} | ${roundsCell(values(s, (r) => r.local.MiBps), false)} | ${rss} |`,
    );
  }
  if (link) {
    lines.push(
      '',
      `| figure 8d/8e, absolute over the ${link.MiBps} MiB/s link: round 1, median of the rest (min–max) | cold pull, MiB/s | cold pull TTFB, ms | stored, s after the cold pull | layers the link carried from the upstream, cold pull to stored | RSS before the cold pull → peak during it (VmHWM), MiB |`,
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const s of subjects.filter((x) => x.linkRounds.length)) {
      const rss = s.linkRounds.map((r) => `${r.rssBeforeMiB === null ? '-' : fmt(r.rssBeforeMiB)} → ${r.coldRss.peakHwmMiB === null ? '-' : fmt(r.coldRss.peakHwmMiB)}`).join(', ');
      const cell = (pick: (r: ProxyLinkRound) => number) => roundsCell(s.linkRounds.map(pick), false);
      lines.push(
        `| ${s.label} | ${cell((r) => r.cold.MiBps)} | ${cell((r) => r.cold.ttfbMs)} | ${cell((r) => r.cachedAfterSec)} | ${cell((r) => r.upstreamFetches)} | ${rss} |`,
      );
    }
  }
  lines.push('', `Local pulls (8c's baseline): ${subjects.map((s) => `${s.label}: ${s.localBaseline}`).join('; ')}.`);
  if (f.berthMaxSampledRssMiB !== null) {
    lines.push(`Berth's process tree over all of figure 8 (the untimed pushes of the baselines included): max sampled RSS ${fmt(f.berthMaxSampledRssMiB)} MiB.`);
  }
  return lines;
}

/** Every round's raw figures, one line each, for the log. */
function roundsTable(config: BenchConfig, results: ConfigResult[]): string {
  const header = ['configuration', 'round', ...figures(config).map((f) => `${f.key} (${f.unit})`), 'peak RSS (MiB)', 'sampled RSS (MiB)', 'sampled PSS (MiB)'];
  const body = results.flatMap((r) =>
    r.rounds.map((round) => [
      r.label,
      String(round.round),
      ...figures(config).map((f) => {
        const v = f.pick(round);
        return v === null ? 'FAIL' : String(v);
      }),
      String(round.rss.peakHwmMiB ?? '-'),
      String(round.rss.maxSampledRssMiB ?? '-'),
      String(round.rss.maxSampledPssMiB ?? '-'),
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const format = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(format)].join('\n');
}

export function printReport(config: BenchConfig, run: RunInfo, results: ConfigResult[], durationSec: number): void {
  if (results.length > 0) {
    console.log('\nEvery round (raw figures; RSS: the server process tree over the whole round)\n');
    console.log(roundsTable(config, results));
  }

  for (const r of results) {
    const extra = r.status === 'ok' ? [] : [`${r.status}: ${r.error}`];
    console.log(`\n${r.label} (${r.server}): ${[...r.notes, ...extra].join('; ')}`);
    if (r.rounds.some((round) => !round.rss.hwmResetAtStart)) console.log('  (VmHWM could not be reset at a round start: that peak also covers earlier rounds)');
    const failed = r.rounds.filter((round) => round.manifestGet.errors > 0);
    for (const round of failed) console.log(`  round ${round.round}: manifest GET failed requests ${JSON.stringify(round.manifestGet.errorsByKind)}`);
  }

  const w = run.webhooks;
  if (w?.status === 'ok') {
    const f = w.figures;
    console.log(
      `\nFigure 7 (webhooks, one run): ${f.off.requestsPerSec ?? 'FAIL'} req/s without, ${f.on.requestsPerSec ?? 'FAIL'} req/s with a subscription, ` +
        `with / without ${f.ratio ?? 'FAIL'}; machine CPU per pull with / without ${f.cpuRatio ?? '-'}; ` +
        `${f.pullEventsDeliveredDuringRun} of ${f.pullsDuringRun} pull events delivered by the end of the run; ${w.notes.join('; ')}`,
    );
  } else if (w) {
    console.log(`\nFigure 7 (webhooks): ${w.status}: ${w.error}`);
  }

  const p = run.proxy;
  if (p) {
    console.log(`\nFigure 8 (pull-through cache): ${p.status}${p.status === 'ok' ? '' : `: ${p.error}`}; ${p.notes.join('; ')}`);
  }

  console.log('\nFor the README:\n');
  console.log(markdownReport(config, run, results, durationSec));
}

export async function writeJson(config: BenchConfig, run: RunInfo, results: ConfigResult[], durationSec: number): Promise<void> {
  const report = {
    startedAt: run.startedAt.toISOString(),
    durationSec,
    command: run.command,
    machine: run.machine,
    clients: run.clients,
    workload: {
      rounds: config.rounds,
      blobMiB: config.blobBytes / MiB,
      chunkMiB: config.chunkBytes / MiB,
      images: config.images,
      imageWorkers: config.imageWorkers,
      layerKiB: config.layerBytes / 1024,
      manifestConnections: config.manifestConnections,
      manifestDurationSec: config.manifestDurationSec,
      webhookDurationSec: config.webhooks ? config.webhookDurationSec : null,
      proxyLayerMiB: config.proxy ? config.proxyLayerBytes / MiB : null,
      proxyAuth: config.proxy ? config.proxyAuth : null,
      proxyLinkMiBps: config.proxy ? config.proxyLinkBytesPerSec / MiB : null,
    },
    configurations: results,
    summary: {
      definition: "reference: Distribution's rounds; berth: fresh = round 1, warm = rounds 2..N, as ratios to the reference median (absolute values without a reference)",
      figures: Object.fromEntries(figures(config).map((f) => [f.key, { unit: f.unit, better: f.better, ...summarise(f, results) }])),
    },
    webhooks: run.webhooks ?? null,
    proxy: run.proxy ?? null,
  };
  await mkdir(dirname(config.resultsFile), { recursive: true });
  await writeFile(config.resultsFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON written to ${relative(config.repoRoot, config.resultsFile)}`);
}
