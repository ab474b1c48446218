/** Test helpers that damage adapter directories (non-finite values, huge sparse files). */
import { cp, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Overwrites the first value of the first tensor of an adapter's safetensors file. */
export async function poison(dir: string, value: number): Promise<void> {
  const file = (await readdir(dir)).find((f) => f.endsWith('.safetensors')) as string; // methods name it differently
  const path = join(dir, file);
  const bytes = await readFile(path);
  const start = 8 + Number(bytes.readBigUInt64LE(0));
  bytes.writeFloatLE(value, start);
  await writeFile(path, bytes);
}

/** A directory with a valid config and a sparse weights file of `size` bytes (no disk used, nothing to read). */
export async function sparseAdapter(root: string, name: string, configFrom: string, size: number): Promise<void> {
  await mkdir(join(root, name), { recursive: true });
  await cp(join(root, configFrom, 'adapter_config.json'), join(root, name, 'adapter_config.json'));
  const handle = await open(join(root, name, 'adapter_model.safetensors'), 'w');
  await handle.truncate(size);
  await handle.close();
}
