/** Pure, server-state-free query building blocks shared by the in-memory server and the replica. */
export * from "./filter-expression.js";
export * from "./filter-value-string.js";
export * from "./free-text-match.js";
export * from "./free-text-query.js";
export * from "./data-registry.js";
export * from "./ip-prefix.js";
export * from "./cidr-index.js";
export * from "./indexable-fields.js";
export * from "./offset-limit.js";
export * from "./unsupported-filter-error.js";
export * from "./sorted-merge.js";
export * from "./filter-evaluation.js";
