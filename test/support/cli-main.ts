/** Runs the CLI's main() in this process with captured output (fast; no child process). */
import { main } from '../../app/src/cli/main.ts';

export interface MainResult {
  code: number;
  out: string;
  err: string;
}

export async function runMain(args: string[]): Promise<MainResult> {
  let out = '';
  let err = '';
  const code = await main(args, {
    out: (t, nl = true) => {
      out += nl ? `${t}\n` : t;
    },
    err: (t) => {
      err += `${t}\n`;
    },
  });
  return { code, out, err };
}
