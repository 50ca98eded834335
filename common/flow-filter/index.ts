/**
 * The one FlowFilter engine: Hubble's FlowFilter lists compiled once into an in-memory predicate over Flow records
 * (the collector's ring, `follow`) and into parameterized ClickHouse SQL over the flows table (history). The two
 * back-ends are built side by side from the same validated values, and a shared test table holds them to the
 * same answers.
 */
export { compileFlowFilters, type FilterRequest } from './compile.js';
export { DEFAULT_FILTER_LIMITS, type FilterLimits } from './limits.js';
export { ParamBag } from './params.js';
export { qualifiedNodeName } from './fields-packet.js';
export { formatAddress, parseAddress } from './ip.js';
export type { CompiledFlowFilters, FlowFilter, SqlParams } from './types.js';
