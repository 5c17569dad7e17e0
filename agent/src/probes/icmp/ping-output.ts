/** Echo statistics as ping prints them in its summary. */
export interface PingStats {
  sent: number;
  received: number;
  rttMinMs: number;
  rttAvgMs: number;
  rttMaxMs: number;
  rttStddevMs: number;
}

/**
 * Parses the summary of iputils (and BusyBox) ping: "N packets transmitted, M received" and
 * "rtt min/avg/max/mdev = a/b/c/d ms". Undefined when there is no summary (ping failed to start).
 */
export function parsePingOutput(text: string): PingStats | undefined {
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (!counts) return undefined;
  const stats: PingStats = {
    sent: Number(counts[1]),
    received: Number(counts[2]),
    rttMinMs: 0,
    rttAvgMs: 0,
    rttMaxMs: 0,
    rttStddevMs: 0,
  };
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)(?:\/([\d.]+))? ms/.exec(text);
  if (rtt) {
    stats.rttMinMs = Number(rtt[1]);
    stats.rttAvgMs = Number(rtt[2]);
    stats.rttMaxMs = Number(rtt[3]);
    stats.rttStddevMs = rtt[4] !== undefined ? Number(rtt[4]) : 0;
  }
  return stats;
}
