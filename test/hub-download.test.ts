import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPeftkitError, Rng } from '@peftkit/core';
import { downloadModel, listRepoFiles } from '@peftkit/models';
import { main } from '../app/src/cli/main.ts';

/** Deterministic pseudo-random bytes (a stand-in for weights). */
function bytes(n: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

interface RemoteFile {
  data: Uint8Array;
  /** LFS-like: served through a redirect with X-Linked-Etag = sha256 (or `badSha` to announce a wrong one). */
  lfs?: boolean;
  badSha?: boolean;
}

const REPO = 'tiny-org/tiny-llama';
const FILES: Record<string, RemoteFile> = {
  'config.json': { data: new TextEncoder().encode('{"model_type":"llama"}\n') },
  'model.safetensors': { data: bytes(300_000, 1), lfs: true },
  'sub dir/tokenizer.json': { data: bytes(5_000, 2) },
  'broken.bin': { data: bytes(10_000, 3), lfs: true, badSha: true },
};

interface ServerState {
  requests: Array<{ url: string; range: string | undefined; auth: string | undefined }>;
  /** Files whose next full-body transfer is cut after half of the bytes (once each). */
  dropOnce: Set<string>;
  /** When set, every request without this bearer token gets 401. */
  token?: string;
  /** Files for which the server ignores Range once and sends the whole body with 200. */
  ignoreRangeOnce: Set<string>;
}

function handler(state: ServerState) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    state.requests.push({ url: path, range: req.headers.range, auth: req.headers.authorization });
    if (
      state.token !== undefined &&
      req.headers.authorization !== `Bearer ${state.token}` &&
      !path.startsWith('/cdn/')
    ) {
      res.writeHead(401).end('unauthorized');
      return;
    }
    if (path === `/api/models/${REPO}/revision/main`) {
      const body = JSON.stringify({
        id: REPO,
        siblings: ['config.json', 'model.safetensors', 'sub dir/tokenizer.json'].map((rfilename) => ({ rfilename })),
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (path === '/api/models/tiny-org/hostile/revision/main') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ siblings: [{ rfilename: '../escape.txt' }] }));
      return;
    }
    const resolvePrefix = `/${REPO}/resolve/main/`;
    if (path.startsWith(resolvePrefix)) {
      const name = path.slice(resolvePrefix.length);
      const file = FILES[name];
      if (file === undefined) {
        res.writeHead(404).end('not found');
        return;
      }
      if (file.lfs) {
        const sha = file.badSha ? sha256(new Uint8Array([1])) : sha256(file.data);
        // Relative Location, as the Hub sends for its own CDN paths.
        res
          .writeHead(302, {
            location: `/cdn/${encodeURIComponent(name)}`,
            'x-linked-etag': `"${sha}"`,
            'x-linked-size': String(file.data.length),
          })
          .end();
        return;
      }
      serveBytes(state, name, file.data, req, res, `"${createHash('sha1').update(file.data).digest('hex')}"`);
      return;
    }
    if (path.startsWith('/cdn/')) {
      const name = path.slice('/cdn/'.length);
      const file = FILES[name];
      if (file === undefined) res.writeHead(404).end();
      else serveBytes(state, name, file.data, req, res, '"cdn-etag-not-a-sha"');
      return;
    }
    res.writeHead(404).end('not found');
  };
}

function serveBytes(
  state: ServerState,
  name: string,
  data: Uint8Array,
  req: IncomingMessage,
  res: ServerResponse,
  etag: string,
): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = 0;
  if (m !== null && !state.ignoreRangeOnce.delete(name)) {
    start = Number(m[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
      'content-length': String(data.length - start),
      etag,
    });
  } else {
    res.writeHead(200, { 'content-length': String(data.length), etag });
  }
  const body = data.subarray(start);
  if (state.dropOnce.delete(name)) {
    // Send half, then kill the socket: the client sees a truncated body or a network error.
    res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(body);
}

async function withServer<T>(state: ServerState, fn: (endpoint: string) => Promise<T>): Promise<T> {
  const server = createServer(handler(state));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections?.();
    await new Promise<void>((ok) => server.close(() => ok()));
  }
}

const newState = (): ServerState => ({ requests: [], dropOnce: new Set(), ignoreRangeOnce: new Set() });
const tempDir = () => mkdtempSync(join(tmpdir(), 'peftkit-hub-'));

test(
  'downloadModel lists the repo, follows redirects, resumes a dropped transfer with Range and verifies ' + 'sha256',
  async () => {
    const dir = tempDir();
    const state = newState();
    state.dropOnce.add('model.safetensors');
    try {
      const progress: number[] = [];
      const result = await withServer(state, (endpoint) =>
        downloadModel({
          repo: REPO,
          dir,
          endpoint,
          onProgress: (p) => void (p.file === 'model.safetensors' && progress.push(p.received)),
        }),
      );
      assert.deepEqual(
        result.files.map((f) => f.file),
        ['config.json', 'model.safetensors', 'sub dir/tokenizer.json'],
        'every listed sibling is fetched',
      );
      for (const name of ['config.json', 'model.safetensors', 'sub dir/tokenizer.json']) {
        const expected = FILES[name]?.data as Uint8Array;
        assert.deepEqual(
          new Uint8Array(readFileSync(join(dir, ...name.split('/')))),
          expected,
          `${name} arrives byte-exact`,
        );
        assert.ok(!existsSync(join(dir, `${name}.incomplete`)), `${name}.incomplete is gone after the rename`);
      }
      const model = result.files.find((f) => f.file === 'model.safetensors');
      assert.equal(model?.verified, 'sha256', 'the LFS file is checked against X-Linked-Etag');
      assert.equal(model?.sha256, sha256(FILES['model.safetensors']?.data as Uint8Array), 'reported sha256');
      assert.equal(
        result.files.find((f) => f.file === 'config.json')?.verified,
        'size',
        'a git (sha1) ETag means a size check',
      );
      const ranges = state.requests.filter((r) => r.url === '/cdn/model.safetensors').map((r) => r.range);
      assert.equal(ranges.length, 2, `one dropped and one resumed transfer, got ${JSON.stringify(ranges)}`);
      assert.equal(ranges[0], undefined, 'the first transfer asks for everything');
      const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
      assert.ok(resumedAt > 0 && resumedAt < 300_000, `the second transfer resumes mid-file, got ${String(ranges[1])}`);
      assert.equal(progress.at(-1), 300_000, 'progress ends at the full size');
      const again = await withServer(newState(), (endpoint) => downloadModel({ repo: REPO, dir, endpoint }));
      assert.ok(
        again.files.every((f) => f.cached),
        'a second run keeps existing files',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'downloadModel resumes from an earlier run’s .incomplete file, ' + 'and restarts when the server ignores Range',
  async () => {
    const dir = tempDir();
    const data = FILES['model.safetensors']?.data as Uint8Array;
    try {
      writeFileSync(join(dir, 'model.safetensors.incomplete'), data.subarray(0, 123_456));
      const state = newState();
      const result = await withServer(state, (endpoint) =>
        downloadModel({ repo: REPO, dir, endpoint, files: ['model.safetensors'] }),
      );
      assert.equal(result.files[0]?.resumedFrom, 123_456, 'the partial file is reused');
      assert.equal(
        state.requests.find((r) => r.url === '/cdn/model.safetensors')?.range,
        'bytes=123456-',
        'Range starts at the partial size',
      );
      assert.deepEqual(
        new Uint8Array(readFileSync(join(dir, 'model.safetensors'))),
        data,
        'resumed file is byte-exact',
      );

      // A partial file whose bytes are wrong (but the server ignores Range) is replaced by the full body.
      rmSync(join(dir, 'model.safetensors'));
      writeFileSync(join(dir, 'model.safetensors.incomplete'), new Uint8Array(1000));
      const ignoring = newState();
      ignoring.ignoreRangeOnce.add('model.safetensors');
      await withServer(ignoring, (endpoint) =>
        downloadModel({ repo: REPO, dir, endpoint, files: ['model.safetensors'] }),
      );
      assert.deepEqual(
        new Uint8Array(readFileSync(join(dir, 'model.safetensors'))),
        data,
        'a 200 answer to a Range request restarts the file',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'downloadModel: coded errors for auth, missing files, bad checksums and hostile names; ' +
    'nothing torn left in place',
  async () => {
    const dir = tempDir();
    const state = newState();
    state.token = 'hf_secret';
    try {
      await withServer(state, async (endpoint) => {
        await assert.rejects(
          downloadModel({ repo: REPO, dir, endpoint }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_AUTH'),
          '401 without a token is PEFTKIT_E_HUB_AUTH',
        );
        await assert.rejects(
          downloadModel({ repo: REPO, dir, endpoint, token: 'hf_secret', files: ['nope.json'] }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_NOT_FOUND'),
          '404 is PEFTKIT_E_HUB_NOT_FOUND',
        );
        await assert.rejects(
          downloadModel({ repo: REPO, dir, endpoint, token: 'hf_secret', files: ['broken.bin'] }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_CHECKSUM'),
          'a sha256 mismatch is PEFTKIT_E_HUB_CHECKSUM',
        );
        assert.ok(
          !existsSync(join(dir, 'broken.bin')) && !existsSync(join(dir, 'broken.bin.incomplete')),
          'a bad download leaves no file behind',
        );
        const listed = await listRepoFiles({ repo: REPO, endpoint, token: 'hf_secret' });
        assert.equal(listed.length, 3, 'listing works with the token');
        const cdnAuth = state.requests.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.auth);
        assert.ok(
          cdnAuth.every((a) => a === 'Bearer hf_secret'),
          'same-origin redirects keep the token',
        );
        await assert.rejects(
          downloadModel({ repo: 'tiny-org/hostile', dir, endpoint, token: 'hf_secret' }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_BAD_INPUT'),
          'a sibling name escaping the folder is refused',
        );
      });
      for (const bad of [
        { repo: '../x' },
        { repo: 'a/b/c' },
        { repo: REPO, revision: '../main' },
        { repo: REPO, endpoint: 'ftp://x' },
        { repo: REPO, files: ['/etc/passwd'] },
      ]) {
        await assert.rejects(
          downloadModel({ dir, ...bad }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_BAD_INPUT'),
          `bad input ${JSON.stringify(bad)} is PEFTKIT_E_HUB_BAD_INPUT`,
        );
      }
      for (const files of [undefined, ['config.json']]) {
        await assert.rejects(
          downloadModel({
            repo: REPO,
            dir,
            endpoint: 'http://127.0.0.1:9',
            retries: 1,
            ...(files === undefined ? {} : { files }),
          }),
          (e: unknown) => isPeftkitError(e, 'PEFTKIT_E_HUB_NETWORK'),
          `a refused connection is PEFTKIT_E_HUB_NETWORK (${files === undefined ? 'listing' : 'file'})`,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('peftkit download <repo> --endpoint --out prints the folder and writes the files', async () => {
  const dir = tempDir();
  try {
    const out: string[] = [];
    const err: string[] = [];
    const code = await withServer(newState(), (endpoint) =>
      main(['download', REPO, '--endpoint', endpoint, '--out', dir, '--file', 'config.json'], {
        out: (t) => void out.push(t),
        err: (t) => void err.push(t),
      }),
    );
    assert.equal(code, 0, `download exits 0: ${err.join('\n')}`);
    assert.equal(out.join('\n'), dir, 'stdout is the destination folder');
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"model_type":"llama"}\n', 'config.json written');
    assert.equal(await main(['download'], { out() {}, err() {} }), 2, 'a missing repo is a usage error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the token is not sent to another origin after a redirect', async () => {
  const dir = tempDir();
  const seen: Array<string | undefined> = [];
  const blob = new TextEncoder().encode('weights');
  const cdn = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
  });
  await new Promise<void>((ok) => cdn.listen(0, '127.0.0.1', ok));
  const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/blob`;
  const hub = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(302, { location: cdnUrl, 'x-linked-etag': `"${sha256(blob)}"` }).end();
  });
  await new Promise<void>((ok) => hub.listen(0, '127.0.0.1', ok));
  try {
    const endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
    const result = await downloadModel({ repo: REPO, dir, endpoint, token: 'hf_secret', files: ['w.bin'] });
    assert.equal(result.files[0]?.verified, 'sha256', 'checked against the first hop’s X-Linked-Etag');
    assert.deepEqual(seen, ['Bearer hf_secret', undefined], 'the hub gets the token, the other origin does not');
  } finally {
    for (const server of [hub, cdn]) {
      server.closeAllConnections?.();
      await new Promise<void>((ok) => server.close(() => ok()));
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
