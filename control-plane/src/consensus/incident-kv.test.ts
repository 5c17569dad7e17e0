import { describe, expect, it } from "vitest";
import { escapeIncidentId, incidentKey, unescapeIncidentId } from "./incident-kv.js";

describe("incident KV keys", () => {
  it("are p<partition>.<id> with the id escaped into KV key characters, reversibly and without collisions", () => {
    const ids = [
      "outage:web:7c9e6679:1700000000000",
      "region:api.v2:7c9e6679:eu-west:1700000000000",
      "partial:a_b=c:1",
      "partial:a_b=3Dc:1",
      "outage:café:1",
    ];
    const keys = ids.map((id) => incidentKey(3, id));
    expect(keys[0]).toBe("p3.outage=3Aweb=3A7c9e6679=3A1700000000000");
    for (const k of keys) expect(k).toMatch(/^p3\.[-/_=a-zA-Z0-9]+$/);
    expect(new Set(keys).size).toBe(ids.length);
    for (const id of ids) expect(unescapeIncidentId(escapeIncidentId(id))).toBe(id);
  });
});
