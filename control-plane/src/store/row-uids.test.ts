import { describe, expect, it } from "vitest";
import { legacyUid } from "../registry/legacy-uid.js";
import { checkUidIn, isLegacyIdentity, rowUidsOf } from "./row-uids.js";

describe("rowUidsOf", () => {
  const born = 1_700_000_000_000;
  const legacy = legacyUid("web", born);

  it("gives the identity born from a check stored before uids its rows without a uid too", () => {
    expect(isLegacyIdentity("web", legacy, born)).toBe(true);
    expect(rowUidsOf("web", legacy, born)).toEqual([legacy, ""]);
  });

  it("gives any other identity its own uid only", () => {
    // Created after uids (random uid), even with the same id and creation time.
    expect(rowUidsOf("web", "0b6f8e4c-3a52-4c4e-9d7e-7f1d2a9b5c11", born)).toEqual([
      "0b6f8e4c-3a52-4c4e-9d7e-7f1d2a9b5c11",
    ]);
    // The legacy uid of another id, or of another creation of this id (deleted and created again).
    expect(rowUidsOf("api", legacy, born)).toEqual([legacy]);
    expect(rowUidsOf("web", legacy, born + 1)).toEqual([legacy]);
    // Creation time unknown: not provably the legacy identity.
    expect(rowUidsOf("web", legacy, undefined)).toEqual([legacy]);
    // A check still served without a uid reads exactly its rows without a uid.
    expect(rowUidsOf("web", "", born)).toEqual([""]);
  });

  it("renders an escaped IN condition and refuses an empty list", () => {
    expect(checkUidIn([legacy, ""]).text).toBe(`check_uid IN ('${legacy}', '')`);
    expect(checkUidIn(["x' OR 1=1 --"], "o_check_uid").text).toBe("o_check_uid IN ('x\\' OR 1=1 --')");
    expect(() => checkUidIn([])).toThrow(/checkUids/);
  });
});
