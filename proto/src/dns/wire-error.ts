/** Thrown for names, records or messages that break the DNS wire format (and nothing else). */
export class DnsWireError extends Error {
  override name = "DnsWireError";
}
