#!/usr/bin/env bash
# Brings up a complete local probemesh from nothing: installs what is missing, builds, then starts
# NATS (JetStream, operator mode, TLS), ClickHouse, the control plane, three agents in three
# regions and demo targets with demo checks. Everything listens on 127.0.0.1, secured by
# `probemesh-control-plane init` (TLS, NATS credentials, enrolled agents); state lives in .mesh/
# (delete it to start over).
# PROBEMESH_NATS_NODES=3 runs NATS as a local 3-node cluster (routes with mutual TLS, JetStream
# replicas 3); PROBEMESH_REPLICAS=2|3 runs that many control planes. Default: one of each.
# Ctrl-C (or SIGTERM) stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash deploy/bootstrap.sh mesh

mesh=${PROBEMESH_MESH_DIR:-$root/.mesh}
nats_port=${MESH_NATS_PORT:-4222}
ch_http_port=${MESH_CLICKHOUSE_HTTP_PORT:-8123}
ch_tcp_port=${MESH_CLICKHOUSE_TCP_PORT:-9000}
ch_inter_port=${MESH_CLICKHOUSE_INTERSERVER_PORT:-9009}
api_addr=${PROBEMESH_HTTP_ADDR:-127.0.0.1:8080}
grpc_addr=${PROBEMESH_GRPC_ADDR:-127.0.0.1:7070}
demo_http_port=${MESH_DEMO_HTTP_PORT:-8081}
demo_tcp_port=${MESH_DEMO_TCP_PORT:-8082}
nats_nodes=${PROBEMESH_NATS_NODES:-1}
cp_replicas=${PROBEMESH_REPLICAS:-1}
[[ $nats_nodes =~ ^[1-5]$ ]] || { printf '[mesh] PROBEMESH_NATS_NODES must be 1 to 5\n' >&2; exit 2; }
[[ $cp_replicas =~ ^[1-5]$ ]] || { printf '[mesh] PROBEMESH_REPLICAS must be 1 to 5\n' >&2; exit 2; }
# Copies of every stream and KV bucket: 3 on a cluster of 3 or more nodes (as many as nodes below that).
js_replicas=${PROBEMESH_JETSTREAM_REPLICAS:-$((nats_nodes < 3 ? nats_nodes : 3))}
nats_cluster_port=${MESH_NATS_CLUSTER_PORT:-$((nats_port + 2000))}
# NATS node i listens on nats_port+i-1 (routes: nats_cluster_port+i-1); control plane i serves the
# API on the HTTP port + 10*(i-1) and gRPC on the gRPC port + i-1.
nats_ports=() nats_urls=() route_ports=() cp_http=() cp_grpc=()
for ((i = 0; i < nats_nodes; i++)); do
  nats_ports+=($((nats_port + i))) nats_urls+=("tls://127.0.0.1:$((nats_port + i))")
  ((nats_nodes == 1)) || route_ports+=($((nats_cluster_port + i)))
done
for ((i = 0; i < cp_replicas; i++)); do
  cp_http+=("${api_addr%:*}:$((${api_addr##*:} + 10 * i))") cp_grpc+=("${grpc_addr%:*}:$((${grpc_addr##*:} + i))")
done
nats_url_list=$(IFS=,; echo "${nats_urls[*]}")
grpc_addr_list=$(IFS=,; echo "${cp_grpc[*]}")
mkdir -p "$mesh"/{clickhouse/{log,data,tmp,user_files,format_schemas},logs,agents}

say() { printf '[mesh] %s\n' "$*" >&2; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "${nats_ports[@]}" "${route_ports[@]}" "$ch_http_port" "$ch_tcp_port" "$ch_inter_port" "${cp_http[@]##*:}" \
  "${cp_grpc[@]##*:}" "$demo_http_port" "$demo_tcp_port"; do
  port_free "$p" || { say "port $p on 127.0.0.1 is in use: stop what holds it or set the MESH_*/PROBEMESH_* port variables (see README)"; exit 1; }
done

# Trust: `init` (idempotent) makes the CA and server certificate, the NATS operator, accounts and
# users, the secret key and the admin token, all under .mesh/trust/ (secrets 0600, never printed).
trust=$mesh/trust
if ((nats_nodes == 1)); then
  node control-plane/dist/main.js init --dir "$trust" --nats-listen "127.0.0.1:$nats_port" >/dev/null
else
  # The env file keeps the NATS URL of its first run; this script passes the cluster's URLs itself.
  node control-plane/dist/main.js init --dir "$trust" --nats-listen "127.0.0.1:$nats_port" \
    --nats-cluster "$nats_nodes" --nats-cluster-port "$nats_cluster_port" 2> >(grep -v PROBEMESH_NATS_URL >&2) >/dev/null
fi
env_value() { sed -n "s/^$1=//p" "$trust/control-plane.env" | tail -1; }
# Every variable below comes from the env file; a stale one in this shell must not override it.
unset PROBEMESH_API_TOKEN PROBEMESH_AGENT_TOKEN PROBEMESH_SECRET_KEY PROBEMESH_NATS_URL PROBEMESH_NATS_CREDS \
  PROBEMESH_CA_FILE PROBEMESH_TLS_CERT PROBEMESH_TLS_KEY PROBEMESH_NATS_SIGNING_KEY_FILE
# This script's own Node.js calls (readiness, enrollment, demo checks) trust the mesh's CA.
export NODE_EXTRA_CA_CERTS="$trust/ca.pem"
# Enrollments live in NATS KV: a cluster has its own, so its agents' tokens are kept apart.
tokens=$trust/agents
((nats_nodes == 1)) || tokens=$trust/agents/nats-cluster
mkdir -p "$tokens"

pids=()
infra_count=$((nats_nodes + 1)) # the NATS nodes and ClickHouse start first
stop_all() {
  trap - INT TERM EXIT
  say "stopping"
  # Programs first (they drain into NATS and ClickHouse), then ClickHouse, then NATS.
  local apps=("${pids[@]:infra_count}") infra=("${pids[@]:0:infra_count}")
  for pid in "${apps[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${apps[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ((i = ${#infra[@]} - 1; i >= 0; i--)); do
    kill -TERM "${infra[i]}" 2>/dev/null || true
    wait "${infra[i]}" 2>/dev/null || true
  done
  say "stopped"
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

start() { # name, command...  (own session: a Ctrl-C reaches this script only, which stops them in order)
  local name=$1; shift
  setsid "$@" >>"$mesh/logs/$name.log" 2>&1 &
  pids+=($!)
}

wait_http() { # what, url, seconds
  local deadline=$((SECONDS + $3))
  until node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$2"; do
    [ $SECONDS -lt $deadline ] || { say "$1 did not come up; see $mesh/logs/"; exit 1; }
    sleep 0.3
  done
}

if ((nats_nodes == 1)); then
  start nats nats-server -c "$trust/nats/nats-server.conf"
else
  for ((i = 1; i <= nats_nodes; i++)); do start "nats-$i" nats-server -c "$trust/nats/node-$i.conf"; done
fi

sed -e "s#@DIR@#$mesh/clickhouse#g" -e "s/@HTTP_PORT@/$ch_http_port/" -e "s/@TCP_PORT@/$ch_tcp_port/" \
  -e "s/@INTERSERVER_PORT@/$ch_inter_port/" deploy/clickhouse/config.xml >"$mesh/clickhouse/config.xml"
cp deploy/clickhouse/users.xml "$mesh/clickhouse/users.xml"
start clickhouse clickhouse-server --config-file="$mesh/clickhouse/config.xml"
wait_http ClickHouse "http://127.0.0.1:$ch_http_port/ping" 60

export PROBEMESH_CLICKHOUSE_URL="http://127.0.0.1:$ch_http_port"
if ((nats_nodes == 1 && cp_replicas == 1)); then
  export PROBEMESH_HTTP_ADDR="$api_addr" PROBEMESH_GRPC_ADDR="$grpc_addr"
  PROBEMESH_ENV_FILE="$trust/control-plane.env" start control-plane node control-plane/dist/main.js
else
  export PROBEMESH_NATS_URL=$nats_url_list PROBEMESH_JETSTREAM_REPLICAS=$js_replicas
  for ((i = 0; i < cp_replicas; i++)); do
    name=control-plane$( ((cp_replicas == 1)) || echo "-$((i + 1))")
    PROBEMESH_HTTP_ADDR=${cp_http[i]} PROBEMESH_GRPC_ADDR=${cp_grpc[i]} PROBEMESH_ENV_FILE="$trust/control-plane.env" \
      start "$name" node control-plane/dist/main.js
  done
  unset PROBEMESH_NATS_URL
fi
api="https://$api_addr"
for addr in "${cp_http[@]}"; do wait_http "the control plane at $addr" "https://$addr/readyz" 90; done
admin_token=$(env_value PROBEMESH_API_TOKEN)

DEMO_HTTP_PORT=$demo_http_port DEMO_TCP_PORT=$demo_tcp_port start demo-targets node deploy/demo-targets.mjs

# Each agent is enrolled once (POST /v1/agents); its token is kept in .mesh/trust/agents/<region>.token (0600;
# agents/nats-cluster/ with a NATS cluster). A token whose agent this NATS does not know (its store was deleted) is replaced.
enroll() { # id, region, provider -> the token file
  local file="$tokens/$2.token"
  [ -s "$file" ] && PROBEMESH_API_TOKEN=$admin_token node -e '
    fetch(`${process.argv[1]}/v1/agents/${process.argv[2]}`, { headers: { authorization: `Bearer ${process.env.PROBEMESH_API_TOKEN}` } })
      .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$api" "$1" && return 0
  (umask 077 && PROBEMESH_API_TOKEN=$admin_token node - "$api" "$1" "$2" "$3" >"$file" <<'JS') || { rm -f "$file"; say "enrolling $1 failed"; exit 1; }
const [api, id, region, provider] = process.argv.slice(2);
const res = await fetch(`${api}/v1/agents`, {
  method: "POST",
  headers: { authorization: `Bearer ${process.env.PROBEMESH_API_TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ id, region, provider }),
});
if (res.status !== 201) {
  console.error(`enrolling ${id}: ${res.status} ${await res.text()} (delete ${process.env.PROBEMESH_MESH_DIR ?? ".mesh"} to start over)`);
  process.exit(1);
}
process.stdout.write((await res.json()).token);
JS
}
for spec in eu-west:aws us-east:gcp ap-south:hetzner; do
  region=${spec%%:*} provider=${spec##*:}
  enroll "agent-$region" "$region" "$provider"
  PROBEMESH_AGENT_TOKEN=$(cat "$tokens/$region.token") PROBEMESH_CA_FILE="$trust/ca.pem" \
    PROBEMESH_NATS_URL="$nats_url_list" PROBEMESH_GRPC_ADDR="$grpc_addr_list" \
    PROBEMESH_AGENT_ID="agent-$region" PROBEMESH_REGION=$region PROBEMESH_PROVIDER=$provider \
    PROBEMESH_STATE_DIR="$mesh/agents/$region" start "agent-$region" node agent/dist/main.js
done

# Demo checks, hooks and a maintenance window as code (deploy/mesh.yaml), applied with the CLI:
# idempotent, so a restart changes nothing; kept in NATS KV across restarts of the mesh.
MESH_DEMO_HTTP_PORT=$demo_http_port MESH_DEMO_TCP_PORT=$demo_tcp_port PROBEMESH_URL=$api PROBEMESH_TOKEN=$admin_token \
  PROBEMESH_CA_FILE="$trust/ca.pem" node control-plane/dist/cli/main.js apply -f deploy/mesh.yaml >&2

if ((cp_replicas == 1)); then
  cp_lines="  API            $api   (TLS; CA: $trust/ca.pem)
  agent gRPC     $grpc_addr   (TLS)"
else
  cp_lines=""
  for ((i = 0; i < cp_replicas; i++)); do
    cp_lines+="  control plane $((i + 1))  API https://${cp_http[i]}   agent gRPC ${cp_grpc[i]}   (TLS; CA: $trust/ca.pem)"$'\n'
  done
  cp_lines=${cp_lines%$'\n'}
fi
if ((nats_nodes == 1)); then
  nats_line="  NATS           tls://127.0.0.1:$nats_port   (operator mode; control plane: $trust/control-plane.creds)"
else
  nats_line="  NATS cluster   $nats_url_list   ($nats_nodes nodes, routes on ${route_ports[*]}, JetStream replicas $js_replicas; operator mode)"
fi
cat >&2 <<MSG

probemesh is up, secured: TLS everywhere, NATS in operator mode, each agent enrolled with its own token.
$cp_lines
  admin token    PROBEMESH_API_TOKEN in $trust/control-plane.env (every /v1 route needs a token)
  dashboard      $api/   (log in with a read token: POST /v1/tokens {"name":"dashboard","scopes":["read"]}; trust $trust/ca.pem)
$nats_line
  ClickHouse     http://127.0.0.1:$ch_http_port   (database probemesh)
  agents         agent-eu-west (aws), agent-us-east (gcp), agent-ap-south (hetzner)
  demo target    http://127.0.0.1:$demo_http_port/  (POST /toggle flips /health between 200 and 503)
  logs           $mesh/logs/

Try the CLI (after: export PROBEMESH_URL=$api PROBEMESH_CA_FILE=$trust/ca.pem; PROBEMESH_TOKEN from the env file):
  node control-plane/dist/cli/main.js status
  node control-plane/dist/cli/main.js events
  node control-plane/dist/cli/main.js export
or curl (after: set -a; . $trust/control-plane.env; set +a):
  curl -s --cacert $trust/ca.pem -H "authorization: Bearer \$PROBEMESH_API_TOKEN" $api/v1/checks
  curl -s --cacert $trust/ca.pem -H "authorization: Bearer \$PROBEMESH_API_TOKEN" $api/v1/agents
  curl -s --cacert $trust/ca.pem -H "authorization: Bearer \$PROBEMESH_API_TOKEN" "$api/v1/checks/demo-web/results?limit=5"
  curl -s --cacert $trust/ca.pem -H "authorization: Bearer \$PROBEMESH_API_TOKEN" $api/v1/checks/demo-health/status

Ctrl-C stops everything.
MSG
printf 'API: %s\n' "$api"

# Stay in the foreground until Ctrl-C or until a component dies.
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "a component (pid $pid) exited; see $mesh/logs/. Stopping the mesh."
      exit 1
    fi
  done
  sleep 1
done
