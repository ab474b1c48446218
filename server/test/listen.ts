/** Tests listen with the same runtime-native server the entry points use. */
export { type Listening, listenRuntime as listen } from '../bin/start.ts';
