import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PLUGIN_API_VERSION, PORTS } from '@peftkit/core';
import { createKernel, platformScope } from '../compose.ts';
import { parseCommand } from './args.ts';
import { DEFAULT_MODEL_DIR } from './cmd-start.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';
import { toCoded } from './errors.ts';
import { readProjectConfig } from './project.ts';
import { appVersion } from './version.ts';

const usage = `Usage: peftkit doctor [--backend wasm|cpu|tensorflow] [--plugin <specifier>]... [--json]

Reports what peftkit finds on this machine: the runtime and its version, the tensor backend it would use and why
(--backend, PEFTKIT_BACKEND, the project's peftkit.config.json, else the available backend with the highest
priority) with every backend's availability, native accelerations found, the installed method plugins with their
versions (first-party, the project config's, PEFTKIT_PLUGINS and --plugin), the plugin API version and whether
the embedded default model is present. Exit code 1 when the backend or a plugin cannot be loaded.`;

export interface DoctorReport {
  peftkit: string;
  runtime: { name: string; version: string };
  backend: {
    chosen: string | null;
    reason: string;
    error?: string;
    available: { name: string; priority: number; available: boolean }[];
  };
  native: { name: string; path: string }[];
  pluginApi: string;
  plugins: { name: string; version: string; core: string }[];
  pluginError?: string;
  projectConfig: string | null;
  embeddedModel: { path: string; present: boolean };
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'report runtime, tensor backends, native libraries, plugins and the embedded model',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      { backend: { type: 'string' }, plugin: { type: 'string', multiple: true }, json: { type: 'boolean' } },
      'doctor',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const report = await diagnose(
      (values.backend as string | undefined) ?? undefined,
      (values.plugin as string[] | undefined) ?? [],
    );
    const failed = report.backend.error !== undefined || report.pluginError !== undefined;
    if (values.json) {
      io.out(JSON.stringify(report, null, 2));
      return failed ? 1 : 0;
    }
    const b = report.backend;
    const lines = [
      `peftkit ${report.peftkit} (plugin API ${report.pluginApi})`,
      `runtime: ${report.runtime.name} ${report.runtime.version}`,
      `tensor backend: ${b.chosen ?? 'none'} (${b.reason})${b.error ? ` — ${b.error}` : ''}`,
      ...b.available.map(
        (a) =>
          `  ${a.name.padEnd(10)} priority ${String(a.priority).padStart(3)}  ` +
          `${a.available ? 'available' : 'not available'}`,
      ),
      'native accelerations: ' +
        `${report.native.length === 0 ? 'none' : report.native.map((n) => `${n.name} (${n.path})`).join(', ')}`,
      `method plugins (${report.plugins.length}):${report.pluginError ? ` — ${report.pluginError}` : ''}`,
      ...report.plugins.map((p) => `  ${p.name.padEnd(16)} ${p.version.padEnd(8)} core ${p.core}`),
      `project config: ${report.projectConfig ?? 'none'}`,
      `embedded model: ${report.embeddedModel.path} ` +
        `(${report.embeddedModel.present ? 'present' : "missing: run 'npm run pretrain'"})`,
    ];
    for (const line of lines) io.out(line);
    return failed ? 1 : 0;
  },
};

/** Gathers the report; backend and plugin failures are recorded in it instead of thrown. */
export async function diagnose(requested: string | undefined, extraPlugins: readonly string[]): Promise<DoctorReport> {
  const scope = platformScope();
  const platform = scope.resolve(PORTS.Platform);
  const adapters = scope.resolve(PORTS.TensorBackends);
  const available = await Promise.all(
    adapters.map(async (a) => ({ name: a.name, priority: a.priority, available: await a.isAvailable() })),
  );
  available.sort((x, y) => y.priority - x.priority);
  const project = readProjectConfig();
  const env = globalThis.process?.env?.PEFTKIT_BACKEND || undefined;
  const [name, reason] =
    requested !== undefined
      ? [requested, 'requested with --backend']
      : env !== undefined
        ? [env, 'PEFTKIT_BACKEND']
        : project.backend !== undefined
          ? [project.backend, `the project config ${project.file}`]
          : [undefined, 'the available backend with the highest priority'];
  const report: DoctorReport = {
    peftkit: appVersion(),
    runtime: { name: platform.runtime, version: platform.version },
    backend: { chosen: null, reason, available },
    native: scope.has(PORTS.NativeLibraries) ? [...scope.resolve(PORTS.NativeLibraries).list()] : [],
    pluginApi: PLUGIN_API_VERSION,
    plugins: [],
    projectConfig: project.file ?? null,
    embeddedModel: { path: DEFAULT_MODEL_DIR, present: existsSync(join(DEFAULT_MODEL_DIR, 'config.json')) },
  };
  const quiet = { warn() {}, info() {} };
  let kernel: Awaited<ReturnType<typeof createKernel>>;
  try {
    kernel = await createKernel({ ...(name !== undefined ? { backend: name } : {}), logger: quiet });
    report.backend.chosen = kernel.backend;
  } catch (error) {
    const coded = toCoded(error);
    report.backend.error = coded.message;
    // plugins are still worth listing: load them on the plain JavaScript backend
    kernel = await createKernel({ backend: 'cpu', logger: quiet });
  }
  try {
    await loadPlugins(kernel, extraPlugins);
  } catch (error) {
    report.pluginError = toCoded(error).message;
  }
  report.plugins = kernel.registry
    .list()
    .map((p) => ({ name: p.meta.name, version: p.meta.version, core: p.meta.core }));
  return report;
}
