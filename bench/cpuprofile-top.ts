/**
 * Summarises a V8 .cpuprofile (`node --cpu-prof`): functions by self time, by total (inclusive) time, and the callers
 * of functions matching a pattern. Samples are weighted by their time deltas; a function recursing counts once per
 * sample in the total column.
 * --window A-B[,C-D]: only samples taken in these monotonic µs ranges (bench/serving.ts prints its timed rounds').
 * Usage: node --import tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top 25] [--callers REGEX] [--total]
 *        [--window A-B]
 */
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  selfMs: number;
  totalMs: number;
}

const label = (n: ProfileNode): string => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url === '' ? '' : ` ${basename(url)}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
};

/** Self and total milliseconds per function label, and caller → callee self-time edges for `callers`. */
export function summarise(
  profile: CpuProfile,
  callers?: RegExp,
  windows: readonly (readonly [number, number])[] = [],
): { functions: FunctionTime[]; totalMs: number; callerMs: Map<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const callerMs = new Map<string, number>();
  let totalMs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (windows.length > 0 && !windows.some(([from, to]) => at >= from && at <= to)) return;
    const ms = delta / 1000;
    totalMs += ms;
    const node = byId.get(id);
    if (node === undefined) return;
    const name = label(node);
    self.set(name, (self.get(name) ?? 0) + ms);
    const seen = new Set<string>();
    let matched = false;
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur) as ProfileNode;
      const l = label(n);
      if (!seen.has(l)) total.set(l, (total.get(l) ?? 0) + ms);
      seen.add(l);
      // Callers of the innermost matching frame: whose calls put the sample there (inclusive of its callees).
      if (callers !== undefined && !matched && callers.test(l)) {
        matched = true;
        const up = parent.get(cur);
        const by = up === undefined ? '(root)' : label(byId.get(up) as ProfileNode);
        callerMs.set(`${by} -> ${l}`, (callerMs.get(`${by} -> ${l}`) ?? 0) + ms);
      }
    }
  });
  const functions = [...self.keys(), ...[...total.keys()].filter((k) => !self.has(k))].map((name) => ({
    name,
    selfMs: self.get(name) ?? 0,
    totalMs: total.get(name) ?? 0,
  }));
  return { functions, totalMs, callerMs };
}

function main(argv: string[]): void {
  const file = argv[0];
  if (file === undefined)
    throw new Error('usage: cpuprofile-top.ts FILE.cpuprofile [--top N] [--callers REGEX] [--total]');
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const top = Number(arg('top') ?? 25);
  const pattern = arg('callers');
  const windows = (arg('window') ?? '')
    .split(',')
    .filter((w) => w !== '')
    .map((w) => w.split('-').map(Number) as [number, number]);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const { functions, totalMs, callerMs } = summarise(profile, pattern ? new RegExp(pattern) : undefined, windows);
  const key = argv.includes('--total') ? 'totalMs' : 'selfMs';
  console.log(`${file}: ${totalMs.toFixed(0)} ms sampled; top ${top} by ${key === 'selfMs' ? 'self' : 'total'} time`);
  console.log('   self ms  self %   total ms  function');
  for (const f of functions.sort((a, b) => b[key] - a[key]).slice(0, top)) {
    const share = ((100 * f.selfMs) / totalMs).toFixed(1).padStart(6);
    console.log(`${f.selfMs.toFixed(1).padStart(10)} ${share}% ${f.totalMs.toFixed(1).padStart(10)}  ${f.name}`);
  }
  if (pattern === undefined) return;
  console.log(`\ncallers of /${pattern}/ (ms inclusive):`);
  for (const [edge, ms] of [...callerMs].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${ms.toFixed(1).padStart(10)}  ${edge}`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  main(process.argv.slice(2));
