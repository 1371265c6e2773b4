/**
 * `npm run bench`: Berth in several configurations vs CNCF Distribution 2.8 under
 * the same OCI workload, each configuration in one freshly started server process
 * running BENCH_ROUNDS rounds. See test/bench/README.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { cleanupAndExit, errorMessage, installSignalHandlers, isInterrupted, Scope } from './cleanup.js';
import { BenchConfigError, commandLine, distributionInstalled, loadConfig, MiB, type BenchConfig, type ConfigSpec } from './config.js';
import { pickClients, type Clients } from './neutral-clients.js';
import { printReport, writeJson, type ConfigResult, type MachineInfo, type RunInfo } from './report.js';
import { berthVersion, buildBerth, startBerth } from './target-berth.js';
import { distributionVersion, startDistribution } from './target-distribution.js';
import type { RunningTarget } from './target.js';
import { runProxyFigure } from './proxy-figure.js';
import { runScaleBench } from './scale.js';
import { runWebhookFigure } from './webhook-figure.js';
import { prepareRounds, runRound, type RoundData } from './workload.js';

async function machineInfo(config: BenchConfig): Promise<MachineInfo> {
  const cpuList = cpus();
  return {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    loadAverage: loadavg()[0],
    distribution: distributionInstalled(config) ? await distributionVersion(config.distributionBin) : null,
  };
}

async function startTarget(spec: ConfigSpec, config: BenchConfig, scope: Scope, rounds: RoundData[]): Promise<RunningTarget> {
  if (!spec.berth) return startDistribution(config, scope);
  const repositories = rounds.flatMap((r) => Object.values(r.repos));
  return (await startBerth(config, scope, { mode: spec.berth, repositories })).target;
}

/** One configuration: a new server process, all rounds in it, torn down before the next configuration starts. */
async function benchConfiguration(spec: ConfigSpec, config: BenchConfig, clients: Clients, rounds: RoundData[]): Promise<ConfigResult> {
  const server = spec.berth ? `Berth ${berthVersion(config)}` : 'Distribution';
  const result: ConfigResult = { name: spec.name, label: spec.label, server, status: 'ok', notes: [], rounds: [] };
  console.log(`\n== ${spec.label}`);
  if (!spec.berth && !distributionInstalled(config)) {
    result.error = `${config.distributionBin} not found (apt-get install docker-registry)`;
    console.log(`  skipped: ${result.error}`);
    return { ...result, status: 'skipped' };
  }

  const scope = new Scope(spec.name);
  try {
    const target = await startTarget(spec, config, scope, rounds);
    Object.assign(result, { server: target.label, notes: target.notes });
    console.log(`  ${target.label} up at ${target.baseUrl} (pid ${target.server.pid}); ${target.notes.join('; ')}`);
    for (const data of rounds) {
      if (isInterrupted()) break;
      console.log(`  -- round ${data.round}${data.round === 1 ? ' (fresh process)' : ''}`);
      result.rounds.push(await runRound(target, config, clients, data, (line) => console.log(`     ${line}`)));
    }
  } catch (err) {
    result.status = 'failed';
    result.error = isInterrupted() ? 'interrupted' : errorMessage(err);
    console.error(`  FAILED: ${result.error}`);
  } finally {
    await scope.close();
  }
  return result;
}

/** The default run: every configuration, then figure 7. Returns the exit code. */
async function runComparison(config: BenchConfig): Promise<number> {
  const startedAt = new Date();
  const machine = await machineInfo(config);
  const clients = pickClients(config);
  console.log('Berth benchmark');
  console.log(`  ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, load average ${machine.loadAverage.toFixed(1)}`);
  console.log(`  node ${machine.node}; distribution ${machine.distribution ?? 'not installed'}`);
  const onlyProxy = config.only === 'proxy';
  console.log(
    onlyProxy
      ? `  BENCH_ONLY=proxy: figure 8 alone, ${config.rounds} round(s)`
      : `  configurations: ${config.configs.map((c) => c.name).join(', ')}; ${config.rounds} round(s) each`,
  );
  for (const note of clients.notes) console.log(`  ${note}`);

  const anyBerth = onlyProxy || config.configs.some((c) => c.berth);
  if (anyBerth && !config.skipBuild) await buildBerth(config);

  const results: ConfigResult[] = [];
  const run: RunInfo = { command: commandLine(), startedAt, machine, clients };
  if (!onlyProxy) {
    const prepStarted = performance.now();
    const dataScope = new Scope('test data');
    const fileDir = clients.pull === 'curl' ? await mkdtemp(join(tmpdir(), 'berth-bench-blobs-')) : null;
    if (fileDir) dataScope.defer('remove blob files', () => rm(fileDir, { recursive: true, force: true }));
    const rounds = await prepareRounds(config, fileDir);
    console.log(
      `  test data ready in ${((performance.now() - prepStarted) / 1000).toFixed(1)}s ` +
        `(${config.rounds} rounds x 2 x ${config.blobBytes / MiB} MiB blobs digested, ${config.images} small images each)`,
    );

    for (const spec of config.configs) {
      if (isInterrupted()) break;
      results.push(await benchConfiguration(spec, config, clients, rounds));
    }
    // Figure 7 once, on its own Berth (Postgres, bearer), after the main configurations.
    if (anyBerth && !isInterrupted()) {
      console.log('\n== Berth: manifest GET with a webhook subscription (figure 7)');
      run.webhooks = await runWebhookFigure(config, clients, rounds[0], (line) => console.log(`  ${line}`));
    }
    await dataScope.close();
  }
  // Figure 8 last, on its own servers (an upstream, a Berth and a Distribution proxying it).
  if (anyBerth && !isInterrupted()) {
    console.log('\n== Pull-through cache: Berth and Distribution proxying a Distribution (figure 8)');
    run.proxy = await runProxyFigure(config, clients, (line) => console.log(`  ${line}`));
  }
  // An interrupted run has no meaningful figures: do not overwrite latest.json with them.
  if (isInterrupted()) return 130;

  const durationSec = Math.round((Date.now() - startedAt.getTime()) / 1000);
  printReport(config, run, results, durationSec);
  await writeJson(config, run, results, durationSec);
  return results.some((r) => r.status === 'failed') || run.webhooks?.status === 'failed' || run.proxy?.status === 'failed' ? 1 : 0;
}

async function main(): Promise<number> {
  installSignalHandlers();
  return runComparison(loadConfig());
}

// `npm run bench -- scale`: the scale figures alone (scale.ts), not the comparison with Distribution.
const run = process.argv.includes('scale') ? () => (installSignalHandlers(), runScaleBench()) : main;
run().then(
  (code) => cleanupAndExit(code),
  (err) => {
    const detail = err instanceof BenchConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`bench failed: ${detail}`);
    return cleanupAndExit(1);
  },
);
