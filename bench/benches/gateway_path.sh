#!/usr/bin/env bash
# The whole request path through a proxy, three ways in one run, to see what the auth hop
# adds: no auth at all, auth against the floor (gatekey-bench's canned answer, no work), and
# auth against gatekey with a cached key. Envoy (ext_authz, gRPC) and nginx (auth_request,
# forward-auth over HTTP/1.1), each generated from the shipped config in deploy/.
#
#   client (wrk) -> proxy -> static upstream (nginx, a 3-byte file)
#                     | auth: none | the floor | gatekey
#
# Usage (release binaries first; everything listens on 127.0.0.1 only):
#   cargo build --release --workspace --bins
#   bench/benches/gateway_path.sh                  # DURATION=10s ROUNDS=2 CONNECTIONS=64 THREADS=2
# Needs envoy, nginx, wrk and curl on PATH. Windows alternate none, floor, gatekey per round
# so all three see the same machine; the table sums the rounds (requests/s) and reports each
# round's wrk percentiles (wrk cannot merge histograms).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
for tool in envoy nginx wrk curl python3; do
    command -v "$tool" >/dev/null || { echo "gateway_path: $tool not found" >&2; exit 1; }
done
for bin in gatekey gatekey-bench; do
    [[ -x $BIN/$bin ]] || { echo "gateway_path: $BIN/$bin missing; cargo build --release --workspace --bins" >&2; exit 1; }
done

# Readable by nginx's unprivileged workers (the static file and the prefix directories).
WORK=$(mktemp -d /tmp/gateway-path.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# Waits until something answers HTTP on 127.0.0.1:$1.
wait_http() {
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    echo "gateway_path: nothing answers on 127.0.0.1:$1" >&2
    exit 1
}
start() { # name, command...: runs in the background, logs to $WORK/name.log
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
}

# ---- static upstream ----
UPSTREAM=$(free_port)
mkdir -p "$WORK/upstream/www"
chmod -R 755 "$WORK/upstream"
echo ok >"$WORK/upstream/www/index.txt"
cat >"$WORK/upstream/nginx.conf" <<EOF
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    default_type text/plain;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UPSTREAM;
        root $WORK/upstream/www;
        location / { try_files /index.txt =404; }
    }
}
EOF
start upstream nginx -p "$WORK/upstream/" -c "$WORK/upstream/nginx.conf" -e stderr -g 'daemon off;'

# ---- gatekey, on a fresh SQLite file, with a cached-key-like key under a 10M/s org limit ----
GK_GRPC=$(free_port)
GK_HTTP=$(free_port)
DB="sqlite://$WORK/gatekey.db"
EMAIL=a@b.test
export GATEKEY_KEY_PEPPER=gateway-path-pepper-for-throwaway-db-only-0001
export GATEKEY_SIGNING_SECRET=gateway-path-signing-secret-throwaway-0001
export GATEKEY_BOOTSTRAP_PASSWORD=gateway-path-password-0001
export GATEKEY_LOG_LEVEL=warn
"$BIN/gatekey" bootstrap --org bench --email "$EMAIL" --database-url "$DB" >"$WORK/bootstrap.log" 2>&1
start gatekey "$BIN/gatekey" serve --grpc-addr "127.0.0.1:$GK_GRPC" --http-addr "127.0.0.1:$GK_HTTP" --database-url "$DB"
wait_http "$GK_HTTP"
KEY=$("$BIN/gatekey-bench" bench-key --grpc-addr "127.0.0.1:$GK_GRPC" --email "$EMAIL")

# ---- the floor: Check on gRPC, forward-auth (both paths) on HTTP ----
FL_GRPC=$(free_port)
FL_HTTP=$(free_port)
start floor "$BIN/gatekey-bench" serve-floor --addr "127.0.0.1:$FL_GRPC" --http-addr "127.0.0.1:$FL_HTTP"
wait_http "$FL_HTTP"

# ---- Envoy: deploy/envoy/envoy.yaml with our ports; "none" drops ext_authz and ratelimit ----
envoy_config() { # variant, auth gRPC port, listen port, admin port
    python3 - "$ROOT/deploy/envoy/envoy.yaml" "$@" "$UPSTREAM" <<'EOF'
import sys
src, variant, auth, listen, admin, upstream = sys.argv[1:]
text = open(src).read()
for old, new in [(50051, auth), (9000, upstream), (10000, listen), (9901, admin)]:
    text = text.replace(f"port_value: {old} ", f"port_value: {new} ")
if variant == "none":
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if l.strip() == "- name: envoy.filters.http.ext_authz")
    end = next(i for i, l in enumerate(lines) if l.strip() == "- name: envoy.filters.http.router")
    lines[start:end] = []
    text = "\n".join(lines)
print(text)
EOF
}
declare -A ENVOY_PORT
base=40
for variant in none floor gatekey; do
    case $variant in none | gatekey) auth=$GK_GRPC ;; floor) auth=$FL_GRPC ;; esac
    listen=$(free_port)
    admin=$(free_port)
    envoy_config "$variant" "$auth" "$listen" "$admin" >"$WORK/envoy-$variant.yaml"
    base=$((base + 1))
    start "envoy-$variant" envoy -c "$WORK/envoy-$variant.yaml" --base-id "$base" -l warning
    ENVOY_PORT[$variant]=$listen
done

# ---- nginx: deploy/nginx/nginx.conf with our ports; "none" drops auth_request ----
declare -A NGINX_PORT
for variant in none floor gatekey; do
    case $variant in none | gatekey) auth=$GK_HTTP ;; floor) auth=$FL_HTTP ;; esac
    listen=$(free_port)
    dir="$WORK/nginx-$variant"
    mkdir -p "$dir"
    chmod 755 "$dir"
    sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$auth/" \
        -e "s/127\.0\.0\.1:9000/127.0.0.1:$UPSTREAM/" \
        -e "s/127\.0\.0\.1:10001/127.0.0.1:$listen/" \
        "$ROOT/deploy/nginx/nginx.conf" >"$dir/nginx.conf"
    if [[ $variant == none ]]; then
        sed -i -e 's/^\( *\)auth_request \/_gatekey_auth;/\1# auth_request off (no-auth variant)/' "$dir/nginx.conf"
    fi
    start "nginx-$variant" nginx -p "$dir/" -c "$dir/nginx.conf" -e stderr -g 'daemon off;'
    NGINX_PORT[$variant]=$listen
done

# Every path must answer 200 before it is measured (a deny would be faster and meaningless).
for proxy in envoy nginx; do
    for variant in none floor gatekey; do
        if [[ $proxy == envoy ]]; then port=${ENVOY_PORT[$variant]}; else port=${NGINX_PORT[$variant]}; fi
        wait_http "$port"
        status=$(curl -s -o /dev/null -w '%{http_code}' -H "x-api-key: $KEY" "http://127.0.0.1:$port/api/x")
        [[ $status == 200 ]] || { echo "gateway_path: $proxy/$variant answered $status" >&2; tail -5 "$WORK"/*.log >&2; exit 1; }
    done
done

echo "# wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -H 'x-api-key: <key>' http://127.0.0.1:<proxy>/api/x"
echo "# rounds: $ROUNDS, alternating none, floor, gatekey"
printf '%-6s %-8s %5s %10s %9s %9s %8s\n' proxy auth round 'req/s' 'p50 ms' 'p99 ms' 'non-2xx'
to_ms() { # wrk's "812.00us" / "1.23ms" / "1.01s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "%s", v }'
}
for proxy in envoy nginx; do
    for round in $(seq "$ROUNDS"); do
        for variant in none floor gatekey; do
            if [[ $proxy == envoy ]]; then port=${ENVOY_PORT[$variant]}; else port=${NGINX_PORT[$variant]}; fi
            out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "x-api-key: $KEY" "http://127.0.0.1:$port/api/x")
            echo "$out" >"$WORK/wrk-$proxy-$variant-$round.txt"
            rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
            p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
            p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
            bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
            printf '%-6s %-8s %5s %10s %9s %9s %8s\n' "$proxy" "$variant" "$round" "$rps" \
                "$(to_ms "$p50")" "$(to_ms "$p99")" "${bad:-0}"
        done
    done
done
