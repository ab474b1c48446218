import { PeftkitError } from '@peftkit/io';
import type { Command } from './commands.ts';
import { untilShutdown } from './shutdown.ts';
import { pluginSpecifiers } from './discover.ts';

const usage = `Usage: peftkit serve --model <dir> --adapters <root> [--preload a,b] [--port N] [--host H]
                     [--adapter-budget-mb N] [--max-batch N] [--batch-window-ms N] [--max-queue N]
                     [--unknown-model base|404] [--in-process] [--backend wasm|cpu|tensorflow]
                     [--plugin <specifier>]...

Serves a Hugging Face model directory and the adapters under <root> over HTTP: OpenAI
(/v1/completions, /v1/chat/completions, /v1/models), vLLM (/v1/load_lora_adapter,
/v1/unload_lora_adapter), LoRAX (/generate, /generate_stream) and peftkit (/v1/adapters,
/v1/classify, /health, /ready, /metrics). Defaults: port 8000, host 127.0.0.1. Admin routes
require "Authorization: Bearer $PEFTKIT_ADMIN_KEY" when that variable is set; inference
routes require $PEFTKIT_API_KEY when set. Third-party method plugins: --plugin (repeatable, a package name
resolved from the working directory or a file path), PEFTKIT_PLUGINS and the project's peftkit.config.json.
See docs/server.md.`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve a model and its adapters over HTTP (OpenAI, vLLM, LoRAX)',
  usage,
  async run(argv, io) {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.out(usage);
      return 0;
    }
    // Loaded on demand: the server's dependencies (hono) are needed only by this command.
    const { parseServeArgs } = await import('../serve/options.ts');
    const { startServer } = await import('../serve/serve.ts');
    let settings: ReturnType<typeof parseServeArgs>;
    try {
      settings = parseServeArgs(argv, process.env);
    } catch (error) {
      throw new PeftkitError('PEFTKIT_E_USAGE', `serve: ${(error as Error).message} (see 'peftkit serve --help')`, {
        command: 'serve',
      });
    }
    const plugins = pluginSpecifiers(settings.engine.plugins ?? [], { absolute: true });
    if (plugins.length > 0) settings.engine.plugins = plugins;
    if (settings.server.adminKey === undefined)
      io.err('peftkit serve: PEFTKIT_ADMIN_KEY is not set; adapter management routes are open');
    const running = await startServer(settings);
    io.out(`peftkit server listening on ${running.url}`);
    await untilShutdown();
    io.err('peftkit serve: draining in-flight requests');
    await running.close();
    return 0;
  },
};
