export * from "./errors.js";
export * from "./types.js";
export * from "./domain.js";
export * from "./live.js";
