// The probemesh dashboard: a login with a read token (kept in sessionStorage), then the overview,
// one check, agents and hooks, kept live by GET /v1/events. Routes live in the URL hash.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, describeError, getJson, storeToken, storedToken } from "./api";
import { connectLive, type LiveState } from "./live";
import { Overview } from "./overview";
import { CheckView } from "./check-view";
import { AgentsView } from "./agents-view";
import { HooksView } from "./hooks-view";
import { loadStatuses } from "./statuses";
import type { Delivery, Status, StatusEvent } from "./types";

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash;
}

function Login(props: { onToken: (t: string) => void; message?: string }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(props.message ?? "");
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await getJson("/v1/checks", token.trim());
      props.onToken(token.trim());
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? "unknown token" : describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>probemesh</h1>
      <form onSubmit={(e) => void submit(e)} aria-describedby="login-help">
        <label for="token">API token (read scope)</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Log in"}
        </button>
        <p id="login-help" class="muted">
          Make one with <code>POST /v1/tokens {'{"name":"dashboard","scopes":["read"]}'}</code>. It stays in this tab's
          session storage only.
        </p>
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}

const LIVE_TEXT: Record<LiveState, string> = {
  connecting: "connecting…",
  live: "● live",
  reconnecting: "○ reconnecting (polling)",
};

function App() {
  const [token, setToken] = useState(storedToken());
  const [loginMessage, setLoginMessage] = useState<string>();
  const hash = useHash();
  const [statuses, setStatuses] = useState<Status[] | null>(null);
  const [statusError, setStatusError] = useState("");
  const [live, setLive] = useState<LiveState>("connecting");
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  /** Transitions seen per check: a check's view refetches what they change (incidents, evidence). */
  const [transitions, setTransitions] = useState<Record<string, number>>({});
  const refreshTimer = useRef<ReturnType<typeof setTimeout>>();

  const logout = useCallback((message?: string) => {
    storeToken(null);
    setToken(null);
    setStatuses(null);
    setLoginMessage(message);
  }, []);

  const refresh = useCallback(async () => {
    if (!token) return;
    try {
      setStatuses(await loadStatuses(token));
      setStatusError("");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) logout("the token was refused; log in again");
      else setStatusError(describeError(err));
    }
  }, [token, logout]);

  /** One refresh soon, however many events asked for it. */
  const refreshSoon = useCallback(() => {
    if (refreshTimer.current) return;
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = undefined;
      void refresh();
    }, 300);
  }, [refresh]);

  useEffect(() => {
    if (!token) return;
    void refresh();
    return connectLive(token, {
      state: (s) => {
        setLive(s);
        // (Re)connected: catch up with anything missed while the stream was down.
        if (s === "live") refreshSoon();
      },
      status: (e: StatusEvent) =>
        setStatuses((list) => {
          if (!list) return list;
          const i = list.findIndex((s) => s.checkId === e.checkId);
          if (i < 0) {
            refreshSoon();
            return list;
          }
          const old = list[i]!;
          const regions = { ...old.regions };
          for (const [r, v] of Object.entries(e.regions ?? {})) regions[r] = { ...regions[r], ...v };
          const next = list.slice();
          next[i] = { ...old, state: e.state, since: e.since, regions };
          return next;
        }),
      transition: (e) => {
        setTransitions((t) => ({ ...t, [e.checkId]: (t[e.checkId] ?? 0) + 1 }));
        refreshSoon();
      },
      delivery: (d) => setDeliveries((list) => [d, ...list].slice(0, 200)),
    });
  }, [token, refresh, refreshSoon]);

  // A safety net under the live stream: poll often while it is down, rarely while it is up.
  useEffect(() => {
    if (!token) return;
    const id = setInterval(() => void refresh(), live === "live" ? 30_000 : 2_000);
    return () => clearInterval(id);
  }, [token, live, refresh]);

  if (!token)
    return (
      <Login
        message={loginMessage}
        onToken={(t) => {
          storeToken(t);
          setLoginMessage(undefined);
          setToken(t);
        }}
      />
    );

  const [, view = "", arg = ""] = /^#\/([a-z]*)\/?(.*)$/.exec(hash) ?? [];
  const page =
    view === "check" ? (
      <CheckView
        token={token}
        checkId={decodeURIComponent(arg)}
        status={statuses?.find((s) => s.checkId === decodeURIComponent(arg))}
        transitions={transitions[decodeURIComponent(arg)] ?? 0}
      />
    ) : view === "agents" ? (
      <AgentsView token={token} statuses={statuses ?? []} />
    ) : view === "hooks" ? (
      <HooksView token={token} live={deliveries} />
    ) : (
      <Overview statuses={statuses} error={statusError} />
    );
  const current = view === "check" ? "" : view || "overview";
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">probemesh</span>
        <nav aria-label="Main">
          {(["overview", "agents", "hooks"] as const).map((v) => (
            <a href={v === "overview" ? "#/" : `#/${v}`} aria-current={current === v ? "page" : undefined}>
              {v[0]!.toUpperCase() + v.slice(1)}
            </a>
          ))}
        </nav>
        <span class={`live live-${live}`} role="status" data-live={live}>
          {LIVE_TEXT[live]}
        </span>
        <button type="button" class="linkish" onClick={() => logout()}>
          Log out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
