/** Shared by the jobs tests and bench: a tiny task the embedded model learns in a few steps, and a poller. */
import type OpenAI from 'openai';

export const AHOY = `${Array.from({ length: 8 }, () =>
  JSON.stringify({ prompt: 'The whale said', completion: ' ahoy ahoy ahoy ahoy' }),
).join('\n')}\n`;
/** A job small enough for 2 cores, strong enough to change greedy output on the embedded model. */
export const JOB_BODY = {
  suffix: 'ahoy',
  seed: 3,
  peftkit: { method: 'lora', config: { r: 4 }, steps: 30, lr: 0.02, training: { saveEvery: 10, batchSize: 4 } },
};

export async function poll(client: OpenAI, id: string, done: (status: string) => boolean, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await client.fineTuning.jobs.retrieve(id);
    if (done(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${job.status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
