/**
 * Which values of a hook are secrets, sealed at rest by the hook registry's serialisation: the
 * signing secret and its predecessors, the PowerDNS API key, the TSIG key, the PagerDuty routing key,
 * every query value of the hook URL, and the whole URL of a slack hook.
 */
import type { Hook } from "../hooks/types.js";
import type { SecretBox } from "./secret-box.js";
import { mapQueryValues } from "./url-query.js";

type Transform = (value: string, aad: string) => string;

function eachSecret(hook: Hook, fn: Transform): Hook {
  const at = (path: string) => `hook:${hook.id}:${path}`;
  const out: Hook = {
    ...hook,
    // A slack hook's whole URL is the credential (https://hooks.slack.com/services/<ids>/<token>).
    url:
      hook.type === "slack"
        ? fn(hook.url, at("url"))
        : mapQueryValues(hook.url, (value, _name, i) => fn(value, at(`url?${i}`))),
    secret: fn(hook.secret, at("secret")),
    previousSecrets: hook.previousSecrets.map((s, i) => fn(s, at(`previousSecrets[${i}]`))),
  };
  if (hook.powerdns) out.powerdns = { ...hook.powerdns, apiKey: fn(hook.powerdns.apiKey, at("powerdns.apiKey")) };
  if (hook.rfc2136)
    out.rfc2136 = {
      ...hook.rfc2136,
      tsig: { ...hook.rfc2136.tsig, secret: fn(hook.rfc2136.tsig.secret, at("rfc2136.tsig.secret")) },
    };
  if (hook.pagerduty)
    out.pagerduty = { ...hook.pagerduty, routingKey: fn(hook.pagerduty.routingKey, at("pagerduty.routingKey")) };
  return out;
}

/** A copy of `hook` with its secrets sealed by `box` (as written to the registry). */
export function sealHook(hook: Hook, box: SecretBox): Hook {
  return eachSecret(hook, (v, aad) => box.seal(v, aad));
}

/**
 * A copy of `hook` with its secrets opened (SecretBoxError when one cannot be), and whether any was
 * stored in clear or under an older key (the entry should be written again).
 */
export function openHook(hook: Hook, box: SecretBox): { hook: Hook; stale: boolean } {
  let stale = false;
  const opened = eachSecret(hook, (v, aad) => {
    if (box.isStale(v)) stale = true;
    return box.open(v, aad);
  });
  return { hook: opened, stale };
}
