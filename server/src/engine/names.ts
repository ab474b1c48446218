/** Public adapter names: what the manager accepts, shorter (room for the internal version suffix), no dot-dot. */
const PUBLIC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

/** Runtime-free (the HTTP layer validates `model` names with it before any engine call). */
export function isValidAdapterName(name: string): boolean {
  return PUBLIC_NAME.test(name) && !name.includes('..');
}
