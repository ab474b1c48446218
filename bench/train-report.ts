/**
 * Tables, peftkit/PyTorch ratios and the SVG chart of bench/train.ts. Pure functions over the row results, so the
 * smoke test can check them without timing anything.
 */
import type { TrainRowResult } from './train-step.ts';

/** What bench/peer/blas.py reports about the torch it found. */
export interface PeerBlas {
  torch: string;
  threads: number;
  blas: string;
  libraries: string[];
  matmulGflops: number;
  /** The interpreter that ran the peer. */
  python?: string;
}

/** The peer's status: its rows and BLAS, or why it did not run. */
export type PeerStatus = { ran: true; blas: PeerBlas; rows: TrainRowResult[] } | { ran: false; reason: string };

/** BLAS whose timings would make a meaningless ratio (the issue: ~3.6 GFLOP/s reference BLAS vs ~127 OpenBLAS). */
export function isReferenceBlas(blas: PeerBlas): boolean {
  return blas.blas === 'reference' || blas.blas === 'unknown';
}

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((r) => (r[col] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const mib = (bytes: number | undefined) => (bytes === undefined ? '' : (bytes / 2 ** 20).toFixed(0));

/**
 * peftkit ÷ PyTorch tokens/s for a method, or the reason there is none. Never a number against reference BLAS:
 * that peer is ~35× slower than an optimized one, so the ratio would flatter peftkit.
 */
export function ratioCell(row: TrainRowResult, peer: PeerStatus): string {
  if (row.tokensPerSecond === undefined) return '';
  if (!peer.ran) return 'no peer';
  const match = peer.rows.find((r) => r.method === row.method);
  if (match?.tokensPerSecond === undefined) return match?.skipped ? 'peer failed' : '';
  if (isReferenceBlas(peer.blas)) return `refused (${peer.blas} BLAS)`;
  return `${(row.tokensPerSecond / match.tokensPerSecond).toFixed(2)}x`;
}

export function trainTable(rows: readonly TrainRowResult[], peer: PeerStatus): string {
  const body = rows.map((r) => {
    const peerRow = peer.ran ? peer.rows.find((p) => p.method === r.method) : undefined;
    const peerTps = peerRow?.tokensPerSecond === undefined ? '' : peerRow.tokensPerSecond.toFixed(1);
    const peerRss = peerRow?.peakRssBytes === undefined ? '' : mib(peerRow.peakRssBytes);
    if (r.skipped !== undefined) return [r.method, 'skipped', '', '', '', peerTps, peerRss, r.skipped];
    return [
      r.method,
      (r.trainableParams ?? 0).toLocaleString('en-US'),
      (r.tokensPerSecond ?? 0).toFixed(1),
      ((r.stepSeconds ?? []).reduce((a, b) => a + b, 0) / Math.max(1, r.stepSeconds?.length ?? 0)).toFixed(2),
      mib(r.peakRssBytes),
      peerTps,
      peerRss,
      ratioCell(r, peer),
    ];
  });
  return formatTable(
    [
      'method',
      'trainable params',
      'peftkit tok/s',
      's/step',
      'peak RSS MiB',
      'PyTorch tok/s',
      'PyTorch RSS MiB',
      'peftkit/PyTorch',
    ],
    body,
  );
}

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface Bar {
  label: string;
  value: number;
  /** Drawn in the peer's colour. */
  peer: boolean;
}

/** A horizontal bar chart (one bar per entry, value printed at its end) as a standalone SVG document. */
export function barChartSvg(title: string, bars: readonly Bar[]): string {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const left = 260;
  const width = 800;
  const barH = 18;
  const height = 40 + bars.length * (barH + 6) + 10;
  const parts = bars.map((b, i) => {
    const y = 34 + i * (barH + 6);
    const w = Math.max(1, ((width - left - 80) * b.value) / max);
    return (
      `<text x="${left - 6}" y="${y + 13}" text-anchor="end">${escapeXml(b.label)}</text>` +
      `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.peer ? '#c0504d' : '#4f81bd'}"/>` +
      `<text x="${(left + w + 4).toFixed(1)}" y="${y + 13}">${b.value.toFixed(1)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      'font-family="sans-serif" font-size="12">',
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Bars of tokens/s: one per measured peftkit row, a second (peer colour) one where PyTorch ran. */
export function trainChartSvg(rows: readonly TrainRowResult[], peer: PeerStatus, title: string): string {
  const bars: Bar[] = [];
  for (const r of rows) {
    if (r.tokensPerSecond === undefined) continue;
    bars.push({ label: `${r.method} (peftkit)`, value: r.tokensPerSecond, peer: false });
    const p = peer.ran ? peer.rows.find((x) => x.method === r.method) : undefined;
    if (p?.tokensPerSecond !== undefined)
      bars.push({
        label: `${r.method} (PyTorch, ${peer.ran ? peer.blas.blas : ''})`,
        value: p.tokensPerSecond,
        peer: true,
      });
  }
  return barChartSvg(title, bars);
}
