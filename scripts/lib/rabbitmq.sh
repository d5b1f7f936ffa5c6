# A private RabbitMQ node for tests and benchmarks: its own node name, ports, data and logs under
# the build area, listening on loopback only, so it never meets another broker on the machine.
# Sourced, not run; needs common.sh. Debian's scripts switch to the `rabbitmq` user when run as
# root, so every folder the node writes is owned by that user.

RABBITMQ_PRIVATE_NODE="${ESCALATOR_RABBITMQ_NODE:-escalator-test@localhost}"
# Ports clear of a default node (5672, distribution 25672), of the ports rabbitmqctl itself binds
# (35672-35682) and of the kernel's ephemeral range (32768-60999).
RABBITMQ_PRIVATE_PORT="${ESCALATOR_RABBITMQ_PORT:-5682}"
RABBITMQ_PRIVATE_DIST_PORT="${ESCALATOR_RABBITMQ_DIST_PORT:-25682}"
RABBITMQ_PRIVATE_TLS_PORT="${ESCALATOR_RABBITMQ_TLS_PORT:-5683}"
RABBITMQ_PRIVATE_BASE="${ESCALATOR_RABBITMQ_BASE:-$PWD/.build/services/rabbitmq}"
RABBITMQ_STARTUP_TIMEOUT_SECONDS="${ESCALATOR_RABBITMQ_STARTUP_TIMEOUT:-90}"

rabbitmq_private_ctl() {
    rabbitmqctl -q -n "$RABBITMQ_PRIVATE_NODE" "$@"
}

rabbitmq_private_is_running() {
    rabbitmq_private_ctl ping >/dev/null 2>&1
}

# rabbitmq_private_start: starts a fresh node (data from an earlier run is wiped) and returns once
# it accepts connections. Exports ESCALATOR_TEST_AMQP_URL, ESCALATOR_TEST_AMQPS_URL,
# ESCALATOR_TEST_TLS_DIR and ESCALATOR_TEST_RABBITMQ_NODE.
rabbitmq_private_start() {
    # A node left behind by an interrupted run would hold the name and the ports.
    rabbitmq_private_stop_quietly

    local base="$RABBITMQ_PRIVATE_BASE"
    rm -rf "$base"
    mkdir -p "$base/data" "$base/log"
    test_tls_files "$base/tls" || return 1
    cat >"$base/rabbitmq.conf" <<CONF
loopback_users = none
listeners.ssl.1 = 127.0.0.1:$RABBITMQ_PRIVATE_TLS_PORT
ssl_options.cacertfile = $base/tls/ca.pem
ssl_options.certfile = $base/tls/server.pem
ssl_options.keyfile = $base/tls/server-key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
log.file.level = info
log.console = false
CONF
    echo '[].' >"$base/enabled_plugins"
    chown -R rabbitmq:rabbitmq "$base"

    log "starting RabbitMQ node $RABBITMQ_PRIVATE_NODE on 127.0.0.1:$RABBITMQ_PRIVATE_PORT (data in $base)"
    RABBITMQ_NODENAME="$RABBITMQ_PRIVATE_NODE" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBITMQ_PRIVATE_PORT" \
    RABBITMQ_DIST_PORT="$RABBITMQ_PRIVATE_DIST_PORT" \
    RABBITMQ_MNESIA_BASE="$base/data" \
    RABBITMQ_LOG_BASE="$base/log" \
    RABBITMQ_PID_FILE="$base/node.pid" \
    RABBITMQ_CONFIG_FILE="$base/rabbitmq" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins" \
        setsid rabbitmq-server >"$base/server.out" 2>&1 </dev/null &
    local server_pid=$!

    # await_startup fails at once while the node has not registered yet: wait for that first.
    local deadline=$((SECONDS + RABBITMQ_STARTUP_TIMEOUT_SECONDS))
    until rabbitmq_private_is_running; do
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            break
        fi
        sleep 1
    done
    if ! timeout "$RABBITMQ_STARTUP_TIMEOUT_SECONDS" rabbitmqctl -q -n "$RABBITMQ_PRIVATE_NODE" \
        await_startup --timeout "$RABBITMQ_STARTUP_TIMEOUT_SECONDS" >/dev/null 2>&1; then
        echo "error: RabbitMQ node $RABBITMQ_PRIVATE_NODE did not start within ${RABBITMQ_STARTUP_TIMEOUT_SECONDS}s; see $base/log and $base/server.out" >&2
        tail -n 20 "$base/server.out" >&2 || true
        return 1
    fi
    log "RabbitMQ node $RABBITMQ_PRIVATE_NODE is ready"
    export ESCALATOR_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$RABBITMQ_PRIVATE_PORT/%2F"
    export ESCALATOR_TEST_AMQPS_URL="amqps://guest:guest@localhost:$RABBITMQ_PRIVATE_TLS_PORT/%2F"
    export ESCALATOR_TEST_TLS_DIR="$base/tls"
    export ESCALATOR_TEST_RABBITMQ_NODE="$RABBITMQ_PRIVATE_NODE"
}

# rabbitmq_private_stop: stops the node started above; safe to call when nothing runs.
rabbitmq_private_stop() {
    if rabbitmq_private_is_running; then
        log "stopping RabbitMQ node $RABBITMQ_PRIVATE_NODE"
    fi
    rabbitmq_private_stop_quietly
}

rabbitmq_private_stop_quietly() {
    local pid_file="$RABBITMQ_PRIVATE_BASE/node.pid"
    local pid=""
    [ -f "$pid_file" ] && pid="$(cat "$pid_file" 2>/dev/null || true)"
    if rabbitmq_private_is_running; then
        # With the pid file, `stop` returns only once the node's process has ended.
        timeout 60 rabbitmqctl -q -n "$RABBITMQ_PRIVATE_NODE" stop "$pid_file" >/dev/null 2>&1 || true
    fi
    # A node that no longer answers its CLI but still runs: end exactly that process.
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    # epmd outlives the nodes it served; end it only when no other node on the machine uses it.
    if command -v epmd >/dev/null 2>&1 && epmd -names 2>/dev/null | grep -q '^epmd: up' \
        && ! epmd -names 2>/dev/null | grep -q '^name '; then
        epmd -kill >/dev/null 2>&1 || true
    fi
}
