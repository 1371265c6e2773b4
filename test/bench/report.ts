/** Results: the comparison table on stdout and test/bench/results/latest.json. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { MiB, type BenchConfig, type TargetName } from './config.js';
import type { TargetFigures } from './workload.js';

export type TargetResult =
  | { name: TargetName; status: 'ok'; label: string; notes: string[]; figures: TargetFigures }
  | { name: TargetName; status: 'failed' | 'skipped'; label: string; notes: string[]; error: string };

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  distribution: string | null;
}

interface Row {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** null: the figure failed; undefined: not measured for this target. */
  pick: (f: TargetFigures) => number | null | undefined;
  /** Ratios of error counts are meaningless. */
  noRatio?: boolean;
  /** Measured on Berth only (figure 7): no Distribution cell, no ratio. */
  berthOnly?: boolean;
}

/** Figure 7's numbers, or undefined when it did not run (its status shows instead). */
function webhookFigures(f: TargetFigures) {
  return f.webhooks?.status === 'ok' ? f.webhooks.figures : undefined;
}

function rows(config: BenchConfig): Row[] {
  const blob = `${config.blobBytes / MiB} MiB`;
  return [
    { key: 'monolithicPushMiBps', label: `1. monolithic push ${blob}`, unit: 'MiB/s', better: 'higher', pick: (f) => f.monolithicPushMiBps },
    { key: 'chunkedPushMiBps', label: `2. chunked push ${blob} (${config.chunkBytes / MiB} MiB)`, unit: 'MiB/s', better: 'higher', pick: (f) => f.chunkedPushMiBps },
    { key: 'pullMiBps', label: `3. pull ${blob} + sha256`, unit: 'MiB/s', better: 'higher', pick: (f) => f.pullMiBps },
    { key: 'imagesPerSec', label: `4. push ${config.images} images, ${config.imageWorkers} clients`, unit: 'images/s', better: 'higher', pick: (f) => f.imagesPerSec },
    { key: 'manifestRps', label: `5. manifest GET, ${config.manifestConnections} conns`, unit: 'req/s', better: 'higher', pick: (f) => f.manifestGet.requestsPerSec },
    { key: 'manifestP99Ms', label: '5. manifest GET p99 latency', unit: 'ms', better: 'lower', pick: (f) => f.manifestGet.p99Ms },
    { key: 'manifestErrors', label: '5. manifest GET non-200/errors', unit: 'count', better: 'lower', pick: (f) => f.manifestGet.errors, noRatio: true },
    { key: 'peakRssMiB', label: '6. peak RSS in 1-3 (VmHWM)', unit: 'MiB', better: 'lower', pick: (f) => f.rss.peakHwmMiB },
    { key: 'maxSampledRssMiB', label: '6. max VmRSS in 1-3 (100 ms)', unit: 'MiB', better: 'lower', pick: (f) => f.rss.maxSampledRssMiB },
    { key: 'webhookOffRps', label: '7. manifest GET, notifications on, no subscription', unit: 'req/s', better: 'higher', berthOnly: true, noRatio: true, pick: (f) => webhookFigures(f)?.off.requestsPerSec },
    { key: 'webhookOnRps', label: '7. manifest GET, webhook subscription (pull events)', unit: 'req/s', better: 'higher', berthOnly: true, noRatio: true, pick: (f) => webhookFigures(f)?.on.requestsPerSec },
    { key: 'webhookRatio', label: '7. with / without subscription', unit: 'ratio', better: 'higher', berthOnly: true, noRatio: true, pick: (f) => webhookFigures(f)?.ratio },
    { key: 'webhookCpuRatio', label: '7. machine CPU per pull, with / without', unit: 'ratio', better: 'lower', berthOnly: true, noRatio: true, pick: (f) => webhookFigures(f)?.cpuRatio },
  ];
}

function cell(result: TargetResult | undefined, row: Row): string {
  if (!result) return '-';
  if (row.berthOnly && result.name !== 'berth') return '-';
  if (result.status !== 'ok') return result.status;
  const value = row.pick(result.figures);
  // A Berth-only figure that did not run shows why (skipped / failed).
  if (value === undefined) return result.figures.webhooks?.status ?? '-';
  return value === null ? 'FAIL' : String(value);
}

function ratioOf(berth: TargetResult | undefined, dist: TargetResult | undefined, row: Row): number | null {
  if (row.noRatio || berth?.status !== 'ok' || dist?.status !== 'ok') return null;
  const b = row.pick(berth.figures);
  const d = row.pick(dist.figures);
  if (b === null || b === undefined || d === null || d === undefined || d === 0) return null;
  return Math.round((b / d) * 100) / 100;
}

export function printTable(config: BenchConfig, results: TargetResult[]): void {
  const berth = results.find((r) => r.name === 'berth');
  const dist = results.find((r) => r.name === 'distribution');
  const header = ['Figure', 'Unit', 'Better', 'Berth', 'Distribution', 'Berth/Dist'];
  const body = rows(config).map((row) => {
    const ratio = ratioOf(berth, dist, row);
    return [row.label, row.unit, row.better, cell(berth, row), cell(dist, row), ratio === null ? '-' : `${ratio.toFixed(2)}x`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  // Text columns left-aligned, numbers right-aligned.
  const format = (r: string[]) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');

  console.log('\nResults  (ratio = Berth / Distribution)');
  console.log('  throughput rows: higher is better, so a ratio > 1 means Berth is faster');
  console.log('  latency / memory rows: lower is better, so a ratio < 1 means Berth is better');
  console.log(`\n${format(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of body) console.log(format(r));

  for (const result of results) {
    const extra = result.status === 'ok' ? [] : [`${result.status}: ${result.error}`];
    console.log(`\n${result.label}: ${[...result.notes, ...extra].join('; ')}`);
    if (result.status === 'ok' && !result.figures.rss.hwmResetAtStart) {
      console.log('  (VmHWM could not be reset before step 1: it also covers start-up and warm-up)');
    }
    const webhooks = result.status === 'ok' ? result.figures.webhooks : undefined;
    if (webhooks?.status === 'ok') {
      const w = webhooks.figures;
      console.log(
        `  7: ${[...webhooks.notes, `${w.durationSec}s per run`, `${w.pullEventsDeliveredDuringRun} of ${w.pullsDuringRun} pull events delivered by the end of the run`].join('; ')}`,
      );
    } else if (webhooks) {
      console.log(`  7: ${webhooks.status}: ${webhooks.error}`);
    }
  }
}

export async function writeJson(
  config: BenchConfig,
  machine: MachineInfo,
  results: TargetResult[],
  startedAt: Date,
): Promise<void> {
  const berth = results.find((r) => r.name === 'berth');
  const dist = results.find((r) => r.name === 'distribution');
  const ratios: Record<string, number | null> = {};
  for (const row of rows(config)) if (!row.noRatio) ratios[row.key] = ratioOf(berth, dist, row);
  const webhooks = berth?.status === 'ok' ? berth.figures.webhooks : undefined;

  const report = {
    startedAt: startedAt.toISOString(),
    durationSec: Math.round((Date.now() - startedAt.getTime()) / 1000),
    machine,
    workload: {
      blobMiB: config.blobBytes / MiB,
      chunkMiB: config.chunkBytes / MiB,
      images: config.images,
      imageWorkers: config.imageWorkers,
      layerKiB: config.layerBytes / 1024,
      manifestConnections: config.manifestConnections,
      manifestDurationSec: config.manifestDurationSec,
      webhookDurationSec: config.webhooks ? config.webhookDurationSec : null,
    },
    targets: Object.fromEntries(results.map((r) => [r.name, r])),
    ratios: { definition: 'berth / distribution', ...ratios },
    // Figure 7: Berth with a webhook subscription (pull events on) / without, same instance.
    webhookRatio: { definition: 'manifest GET req/s with / without subscription (Berth)', value: webhooks?.status === 'ok' ? webhooks.figures.ratio : null },
  };
  await mkdir(dirname(config.resultsFile), { recursive: true });
  await writeFile(config.resultsFile, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nJSON written to ${relative(config.repoRoot, config.resultsFile)}`);
}
