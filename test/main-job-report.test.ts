import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../app/src/cli/main.ts';
import { parseMetricsLog } from '../app/src/report/metrics.ts';

// `npm start -- --quick --no-serve`: the documented smoke test must succeed (exit 0, "not judged"), and its
// comparison report must show the base values, the spam task's accuracy, a step-0 eval and one y axis per task.

test(
  'main job --quick --no-serve: exit 0 (not judged), report with base values, accuracy, step-0 evals, ' +
    'one chart per task',
  async () => {
    const out = await mkdtemp(join(tmpdir(), 'peftkit-main-report-'));
    try {
      let stdout = '';
      let stderr = '';
      const code = await main(['start', '--quick', '--no-serve', '--out', out], {
        out: (t, nl = true) => {
          stdout += nl ? `${t}\n` : t;
        },
        err: (t) => {
          stderr += `${t}\n`;
        },
      });
      assert.equal(code, 0, `the smoke test exits 0:\n${stdout}\n${stderr}`);
      assert.match(stdout, /not judged/, 'the table says the smoke test is not judged');
      assert.doesNotMatch(stdout, /✗ not better/, 'no verdict on a few steps');

      const text = await readFile(join(out, 'comparison.txt'), 'utf8');
      assert.doesNotMatch(text, /– → \d/, `every before value present:\n${text}`);
      const spam = text.split('\n').find((l) => l.startsWith('spam-filter')) ?? '';
      assert.match(spam, /\d+\.\d% → \d+\.\d%/, `the spam task's accuracy before → after is shown:\n${text}`);

      for (const task of ['sotu-style', 'spam-filter']) {
        const records = parseMetricsLog(await readFile(join(out, task, 'metrics.jsonl'), 'utf8'));
        const zero = records.find((r) => r.type === 'eval' && r.step === 0);
        assert.ok(zero !== undefined, `${task}: an eval at step 0 is logged`);
      }
      const spamLog = parseMetricsLog(await readFile(join(out, 'spam-filter', 'metrics.jsonl'), 'utf8'));
      const spamZero = spamLog.find((r) => r.type === 'eval' && r.step === 0);
      assert.ok(
        spamZero?.type === 'eval' && typeof spamZero.accuracy === 'number',
        'the spam step-0 eval carries the base accuracy',
      );

      const html = await readFile(join(out, 'comparison.html'), 'utf8');
      assert.equal((html.match(/<svg/g) ?? []).length, 2, 'one chart (own y axis) per task in comparison.html');
      const svg = await readFile(join(out, 'comparison.svg'), 'utf8');
      assert.equal((svg.match(/Loss: /g) ?? []).length, 2, 'comparison.svg holds one titled panel per task');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  },
);
