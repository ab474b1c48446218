import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPeftkitError, Scope, token, TOKENS } from '@peftkit/core';
import { createKernel } from 'peftkit';

test('the kernel scope resolves the core services by typed token', async () => {
  const kernel = await createKernel({ backend: 'cpu', seed: 7, logger: { warn() {}, info() {} } });
  const runtime = kernel.scope.resolve(TOKENS.TensorRuntime);
  assert.equal(runtime.backend, 'cpu');
  assert.equal(runtime.tf, kernel.tf);
  assert.equal(kernel.scope.resolve(TOKENS.PluginRegistry), kernel.registry);
  assert.equal(kernel.scope.resolve(TOKENS.Settings).seed, 7);
});

test('child scopes see parent registrations and may override them locally', () => {
  const Greeting = token<string>('test:Greeting');
  const Counter = token<{ n: number }>('test:Counter');
  const parent = new Scope();
  parent.provideValue(Greeting, 'hello');
  let made = 0;
  parent.provideFactory(Counter, () => ({ n: ++made }));
  const child = parent.child();
  assert.equal(child.resolve(Greeting), 'hello');
  child.provideValue(Greeting, 'hi');
  assert.equal(child.resolve(Greeting), 'hi');
  assert.equal(parent.resolve(Greeting), 'hello');
  assert.equal(parent.resolve(Counter), parent.resolve(Counter), 'factories run once per scope');
  assert.equal(made, 1);
});

test('resolving an unregistered token gives PEFTKIT_E_DI_UNREGISTERED', () => {
  const scope = new Scope();
  assert.throws(
    () => scope.resolve(token<number>('test:Missing')),
    (e) => isPeftkitError(e, 'PEFTKIT_E_DI_UNREGISTERED'),
  );
});
