// Demo targets for the local mesh: an HTTP server and a TCP listener on loopback.
// GET /         -> 200 "ok"
// GET /health   -> 200 JSON, or 503 while "down" (toggle with POST /toggle)
// TCP port      -> accepts and closes
import { createServer } from "node:http";
import { createServer as createTcpServer } from "node:net";

const httpPort = Number(process.env.DEMO_HTTP_PORT ?? 8081);
const tcpPort = Number(process.env.DEMO_TCP_PORT ?? 8082);
let healthy = true;

const http = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/toggle") {
    healthy = !healthy;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ healthy }));
    return;
  }
  if (req.url === "/health") {
    res.writeHead(healthy ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: healthy ? "ok" : "down" }));
    return;
  }
  res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
});
const tcp = createTcpServer((sock) => sock.end());

http.listen(httpPort, "127.0.0.1");
tcp.listen(tcpPort, "127.0.0.1");
process.stdout.write(`demo targets: http://127.0.0.1:${httpPort}/ tcp 127.0.0.1:${tcpPort}\n`);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    http.close();
    tcp.close();
    process.exit(0);
  });
}
