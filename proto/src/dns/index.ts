// The DNS wire format (RFC 1035, RFC 2136, RFC 3597), written once: the agent's DNS prober queries
// and renders answers with it, the control plane's RFC 2136 hooks encode updates with it (their
// TSIG signing stays in the control plane). Hand-written: no small npm library does both with TSIG.
export { DnsWireError } from "./wire-error.js";
export { RECORD_TYPE_CODES, TYPE, CLASS, OPCODE, FLAGS, typeName, rcodeName } from "./codes.js";
export { encodeName, readName, type EncodeNameOptions } from "./name.js";
export { addressRdata, rdataAddress, caaRdata, rdataText } from "./rdata.js";
export {
  encodeHeader,
  encodeQuery,
  encodeRecord,
  encodeReplaceUpdate,
  decodeMessage,
  decodeResponse,
  type EncodeQueryOptions,
  type Question,
  type ResourceRecord,
  type DnsMessage,
  type DnsAnswer,
  type DnsResponse,
} from "./message.js";
