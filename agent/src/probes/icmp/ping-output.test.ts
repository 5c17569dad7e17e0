import { expect, it } from "vitest";
import { parsePingOutput } from "./ping-output.js";

it("parses iputils summaries with and without replies", () => {
  const ok =
    "--- 127.0.0.1 ping statistics ---\n3 packets transmitted, 3 received, 0% packet loss, time 405ms\nrtt min/avg/max/mdev = 0.051/0.073/0.094/0.017 ms\n";
  expect(parsePingOutput(ok)).toEqual({
    sent: 3,
    received: 3,
    rttMinMs: 0.051,
    rttAvgMs: 0.073,
    rttMaxMs: 0.094,
    rttStddevMs: 0.017,
  });
  const lost =
    "--- 10.0.0.2 ping statistics ---\n3 packets transmitted, 0 received, +3 errors, 100% packet loss, time 2040ms\n";
  expect(parsePingOutput(lost)).toMatchObject({ sent: 3, received: 0, rttAvgMs: 0 });
  const busybox =
    "3 packets transmitted, 2 packets received, 33% packet loss\nround-trip min/avg/max = 0.1/0.2/0.3 ms\n";
  expect(parsePingOutput(busybox)).toMatchObject({ sent: 3, received: 2, rttMaxMs: 0.3, rttStddevMs: 0 });
  expect(parsePingOutput("ping: socket: Operation not permitted")).toBeUndefined();
});
