/**
 * `npm run bench`: Berth vs CNCF Distribution 2.8 under the same OCI workload,
 * one server at a time. See test/bench/README.md.
 */
import { cpus, totalmem, release } from 'node:os';
import { cleanupAndExit, errorMessage, installSignalHandlers, isInterrupted, Scope } from './cleanup.js';
import { BenchConfigError, distributionInstalled, loadConfig, MiB, type BenchConfig, type TargetName } from './config.js';
import { printTable, writeJson, type MachineInfo, type TargetResult } from './report.js';
import { berthVersion, startBerth } from './target-berth.js';
import { distributionVersion, startDistribution } from './target-distribution.js';
import type { RunningTarget } from './target.js';
import { runWebhookFigure } from './webhook-figure.js';
import { prepareWorkloadData, runWorkload, type WorkloadData } from './workload.js';

const starters: Record<TargetName, (config: BenchConfig, scope: Scope) => Promise<RunningTarget>> = {
  berth: startBerth,
  distribution: startDistribution,
};

async function machineInfo(config: BenchConfig): Promise<MachineInfo> {
  const cpuList = cpus();
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    distribution: distributionInstalled(config) ? await distributionVersion(config.distributionBin) : null,
  };
}

/** Starts one target, runs the workload, and always tears the target down before the next one starts. */
async function benchTarget(name: TargetName, config: BenchConfig, data: WorkloadData): Promise<TargetResult> {
  const fallbackLabel = name === 'berth' ? `Berth ${berthVersion(config)}` : 'Distribution';
  console.log(`\n== ${fallbackLabel}`);
  if (name === 'distribution' && !distributionInstalled(config)) {
    const error = `${config.distributionBin} not found (apt-get install docker-registry)`;
    console.log(`  skipped: ${error}`);
    return { name, status: 'skipped', label: fallbackLabel, notes: [], error };
  }

  const scope = new Scope(name);
  let target: RunningTarget | undefined;
  try {
    target = await starters[name](config, scope);
    console.log(`  ${target.label} up at ${target.baseUrl} (pid ${target.server.pid}); ${target.notes.join('; ')}`);
    const figures = await runWorkload(target, config, data, (line) => console.log(`  ${line}`));
    return { name, status: 'ok', label: target.label, notes: target.notes, figures };
  } catch (err) {
    const error = isInterrupted() ? 'interrupted' : errorMessage(err);
    console.error(`  FAILED: ${error}`);
    return { name, status: 'failed', label: target?.label ?? fallbackLabel, notes: target?.notes ?? [], error };
  } finally {
    await scope.close();
  }
}

async function main(): Promise<number> {
  installSignalHandlers();
  const startedAt = new Date();
  const config = loadConfig();
  const machine = await machineInfo(config);
  console.log('Berth benchmark');
  console.log(`  ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}`);
  console.log(`  node ${machine.node}; distribution ${machine.distribution ?? 'not installed'}`);
  console.log(`  targets: ${config.targets.join(', ')}`);

  const prepStarted = performance.now();
  const data = prepareWorkloadData(config);
  console.log(
    `  test data ready in ${((performance.now() - prepStarted) / 1000).toFixed(1)}s ` +
      `(2 x ${config.blobBytes / MiB} MiB blobs digested, ${config.images} small images)`,
  );

  const results: TargetResult[] = [];
  for (const name of config.targets) {
    if (isInterrupted()) break;
    const result = await benchTarget(name, config, data);
    results.push(result);
    // Figure 7, Berth only, on its own instance once the main one is gone.
    if (result.name === 'berth' && result.status === 'ok' && !isInterrupted()) {
      console.log(`\n== ${result.label}: manifest GET with a webhook subscription (figure 7)`);
      result.figures.webhooks = await runWebhookFigure(config, data, (line) => console.log(`  ${line}`));
    }
  }
  // An interrupted run has no meaningful figures: do not overwrite latest.json with them.
  if (isInterrupted()) return 130;

  printTable(config, results);
  await writeJson(config, machine, results, startedAt);
  const webhookFailed = results.some((r) => r.status === 'ok' && r.figures.webhooks?.status === 'failed');
  return results.some((r) => r.status === 'failed') || webhookFailed ? 1 : 0;
}

main().then(
  (code) => cleanupAndExit(code),
  (err) => {
    const detail = err instanceof BenchConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`bench failed: ${detail}`);
    return cleanupAndExit(1);
  },
);
