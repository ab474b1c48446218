// Public entry of @peftkit/core/report (being written).
export {};
