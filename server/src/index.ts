// Placeholder: the server is being written (issue #7). Exports nothing yet.
export {};
