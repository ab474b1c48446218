// Types for scripts/import-graph.mjs (plain JS so it runs with no build step).
export interface ImportEdge {
  kind: 'static' | 'side-effect' | 'dynamic' | 'url';
  specifier: string;
  line: number;
}
export interface Violation extends ImportEdge {
  file: string;
  reason: string;
}
export declare const MAY_IMPORT: Readonly<Record<string, readonly string[]>>;
export declare function maskSource(src: string): { code: string; strings: { value: string | null; at: number }[] };
export declare function extractImports(src: string): ImportEdge[];
export declare function findViolations(root: string): Violation[];
export declare function formatViolations(violations: readonly Violation[]): string;
