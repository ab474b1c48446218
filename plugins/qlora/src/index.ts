// Placeholder: the plugin is being written (see its issue). Exports nothing yet.
export {};
