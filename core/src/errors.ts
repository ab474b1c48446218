/**
 * PeftkitError is defined in @peftkit/io, the leaf package every other package (core included) depends on, so that
 * one class is shared by the whole graph; core re-exports it as part of its public API.
 */
export { PeftkitError, isPeftkitError } from '@peftkit/io';
