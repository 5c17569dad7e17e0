import type { Context } from "hono";
import { ValidationError } from "../errors.js";

/** The request body parsed as JSON; a ValidationError naming "body" when it is empty or not JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") {
    throw new ValidationError("request body is empty; expected JSON", {
      field: "body",
      problems: [{ field: "body", message: "is empty; expected JSON" }],
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ValidationError(`request body is not valid JSON: ${why}`, {
      field: "body",
      problems: [{ field: "body", message: `is not valid JSON: ${why}` }],
    });
  }
}
