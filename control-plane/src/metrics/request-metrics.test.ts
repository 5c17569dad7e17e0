import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { requestMetrics } from "./request-metrics.js";

describe("requestMetrics", () => {
  it("labels requests by the route pattern of mounted sub-apps, and unmatched ones as such", async () => {
    const seen: { method: string; route: string; status: number }[] = [];
    const app = new Hono();
    app.use("*", requestMetrics({ onRequest: ({ method, route, status }) => seen.push({ method, route, status }) }));
    const v1 = new Hono();
    v1.use("*", async (c, next) => (c.req.header("authorization") ? next() : c.text("no", 401)));
    v1.get("/checks/:id", (c) => c.json({ id: c.req.param("id") }));
    app.route("/v1", v1);
    await app.request("/v1/checks/web", { headers: { authorization: "Bearer x" } });
    await app.request("/v1/checks/db");
    await app.request("/v1/nothing-here/123");
    expect(seen).toEqual([
      { method: "GET", route: "/v1/checks/:id", status: 200 },
      { method: "GET", route: "/v1/checks/:id", status: 401 },
      { method: "GET", route: "unmatched", status: 401 },
    ]);
  });
});
