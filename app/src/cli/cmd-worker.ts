import { join } from 'node:path';
import { numberOption, parseCommand, requireString } from './args.ts';
import type { Command } from './commands.ts';
import { untilShutdown } from './shutdown.ts';
import { pluginSpecifiers } from './discover.ts';

const usage = `Usage: peftkit worker --model <dir> --store <dir> --redis <url> [--adapters <root>]
                      [--lock-ms N] [--backend wasm|cpu|tensorflow] [--plugin <specifier>]...

Takes fine-tuning jobs from the BullMQ queue on Redis (created through 'peftkit serve --store <dir> --redis <url>'),
one at a time, and trains them on <model> with any installed method plugin. Checkpoints go to the shared store;
the final adapter goes to the adapter root the servers serve (default <store>/adapters), and every server
replica hot-loads it. A worker killed mid-job loses nothing: after --lock-ms (default 30000) without its lock
being renewed, another worker continues the job from its latest checkpoint, bit-exactly. See docs/jobs.md.`;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'train fine-tuning jobs from the Redis queue (scale-out of peftkit serve --store)',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      {
        model: { type: 'string' },
        store: { type: 'string' },
        redis: { type: 'string' },
        adapters: { type: 'string' },
        'lock-ms': { type: 'string' },
        backend: { type: 'string' },
        plugin: { type: 'string', multiple: true },
      },
      'worker',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const modelDir = requireString(values, 'model', 'worker');
    const storeDir = requireString(values, 'store', 'worker');
    const url = requireString(values, 'redis', 'worker');
    const lockMs =
      values['lock-ms'] === undefined
        ? 30_000
        : numberOption(values, 'lock-ms', 'worker', 0, (n) => Number.isInteger(n) && n >= 1000, 'an integer ≥ 1000');
    // loaded on demand: only this command needs BullMQ and the server package
    const { FsStore } = await import('@peftkit/server');
    const { createJobRunner } = await import('../jobs/runner.ts');
    const { startRedisWorker } = await import('../jobs/bullmq.ts');
    const store = await FsStore.open(storeDir);
    const plugins = pluginSpecifiers((values.plugin as string[] | undefined) ?? [], { absolute: true });
    const runner = await createJobRunner({
      modelDir,
      adapterRoot: (values.adapters as string | undefined) ?? join(storeDir, 'adapters'),
      ...(values.backend ? { backend: values.backend as string } : {}),
      ...(plugins.length > 0 ? { plugins } : {}),
    });
    const worker = await startRedisWorker({
      url,
      store,
      runner,
      lockDurationMs: lockMs,
      stalledIntervalMs: Math.max(500, Math.floor(lockMs / 2)),
      log: (line) => io.err(`peftkit worker: ${line}`),
    });
    io.out(`peftkit worker ready (pid ${process.pid}, methods: ${runner.methods().join(', ')})`);
    await Promise.race([untilShutdown(), worker.done]);
    io.err('peftkit worker: stopping after the current step (the job goes back to the queue)');
    await worker.close();
    await runner.close();
    return 0;
  },
};
