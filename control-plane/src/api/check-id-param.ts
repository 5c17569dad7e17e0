import { z } from "@hono/zod-openapi";
import { checkId, CHECK_ID_PATTERN } from "../checks/rules.js";

/** The `{id}` path parameter of every /v1/checks/{id} route. */
export const CheckIdParams = z.object({
  id: z
    .string()
    .superRefine((v, ctx) => {
      const message = checkId(v);
      if (message !== undefined) ctx.addIssue({ code: "custom", message });
    })
    .openapi({
      param: { name: "id", in: "path", description: "check id" },
      pattern: CHECK_ID_PATTERN.source,
      example: "web",
    }),
});
