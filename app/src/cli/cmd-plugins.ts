import { createKernel } from '../compose.ts';
import { PLUGIN_API_VERSION } from '@peftkit/core';
import { parseCommand } from './args.ts';
import type { Command } from './commands.ts';
import { loadPlugins } from './discover.ts';

const usage = `Usage: peftkit plugins [--plugin <specifier>]... [--json]

Lists the installed method plugins (first-party @peftkit/* packages, PEFTKIT_PLUGINS and --plugin specifiers)
with their versions, families and the plugin-API range they support.`;

export const pluginsCommand: Command = {
  name: 'plugins',
  summary: 'list installed method plugins with versions and supported core range',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(
      argv,
      { plugin: { type: 'string', multiple: true }, json: { type: 'boolean' }, backend: { type: 'string' } },
      'plugins',
    );
    if (values.help) {
      io.out(usage);
      return 0;
    }
    const kernel = await createKernel({
      backend: (values.backend as string | undefined) ?? 'cpu',
      logger: { warn: io.err, info() {} },
    });
    const { loaded } = await loadPlugins(kernel, (values.plugin as string[] | undefined) ?? []);
    const rows = loaded.map((p) => ({
      name: p.meta.name,
      version: p.meta.version,
      family: p.meta.family,
      core: p.meta.core,
      merge: p.capabilities.merge,
      mixedBatch: p.capabilities.mixedBatch,
      peftType: p.meta.peftType ?? '',
    }));
    if (values.json) {
      io.out(JSON.stringify({ pluginApi: PLUGIN_API_VERSION, plugins: rows }, null, 2));
      return 0;
    }
    io.out(`plugin API ${PLUGIN_API_VERSION}`);
    if (rows.length === 0) {
      io.out('no method plugins installed');
      return 0;
    }
    const header = ['name', 'version', 'family', 'core range', 'merge', 'mixed batch', 'peft_type'];
    const table = [
      header,
      ...rows.map((r) => [r.name, r.version, r.family, r.core, r.merge, String(r.mixedBatch), r.peftType]),
    ];
    const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)));
    for (const row of table)
      io.out(
        row
          .map((cell, i) => cell.padEnd(widths[i] as number))
          .join('  ')
          .trimEnd(),
      );
    return 0;
  },
};
