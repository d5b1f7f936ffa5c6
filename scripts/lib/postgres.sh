# A private PostgreSQL cluster for Escalator's tests and demo: its own data folder, port and
# socket under the build area, so it never touches another cluster on the machine. Sourced.
#
#   postgres_start DIR PORT   initdb (first time) and start; exports ESCALATOR_TEST_POSTGRES_URL,
#                             and ESCALATOR_TEST_POSTGRES_TLS_DIR: the server also takes TLS, with a
#                             certificate for `localhost` from a throwaway CA (test_tls_files; needs
#                             openssl; ESCALATOR_POSTGRES_SSL=off starts it without). Disk syncs are
#                             off for tests; ESCALATOR_POSTGRES_FSYNC=on for benchmarks. Every user
#                             is trusted, but escalator_password over TCP signs in with its password,
#                             right-password, for the tests of wrong passwords.
#   postgres_stop DIR         fast shutdown

# test_tls_files, for callers that source this file alone (the outage test).
declare -F test_tls_files >/dev/null || source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

postgres_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] || { echo "error: PostgreSQL binaries not found under /usr/lib/postgresql; install the postgresql package" >&2; return 1; }
    echo "$bin"
}

# The server refuses to run as root: run its tools as the postgres user.
postgres_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_start() {
    local dir=$1 port=$2 bin
    bin=$(postgres_bin) || return 1
    # psql and createdb give up on a server that accepts but never answers instead of waiting forever.
    local -x PGCONNECT_TIMEOUT=10
    mkdir -p "$dir/socket"
    # The certificates last two days, the cluster longer: made anew when a day old. A cluster
    # without TLS needs none.
    local ssl=${ESCALATOR_POSTGRES_SSL:-on}
    if [ "$ssl" = on ] && [ -z "$(find "$dir/tls/server.pem" -mmin -1440 2>/dev/null)" ]; then
        rm -rf "$dir/tls"
        test_tls_files "$dir/tls" || return 1
        chmod 600 "$dir/tls/server-key.pem"
    fi
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        postgres_as_owner "$bin/initdb" -D "$dir/data" -A trust -U escalator -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; return 1; }
    fi
    # One user signs in with a password (the tests of wrong passwords); every other is trusted.
    # The first matching line of pg_hba.conf applies: this one goes first, also in a cluster made
    # before it existed.
    grep -q '^host all escalator_password 127.0.0.1/32 scram-sha-256$' "$dir/data/pg_hba.conf" \
        || postgres_as_owner sed -i '1i host all escalator_password 127.0.0.1/32 scram-sha-256' "$dir/data/pg_hba.conf"
    # A cluster left running by an interrupted run is stopped first, so this run starts clean.
    postgres_as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && postgres_stop "$dir"
    postgres_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir/socket -c listen_addresses=127.0.0.1 -c fsync=${ESCALATOR_POSTGRES_FSYNC:-off} -c max_connections=200 -c ssl=$ssl -c ssl_cert_file=$dir/tls/server.pem -c ssl_key_file=$dir/tls/server-key.pem" start >/dev/null \
        || { tail -n 20 "$dir/server.log" >&2; return 1; }
    postgres_as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U escalator -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = 'escalator'" | grep -q 1 \
        || postgres_as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U escalator escalator
    # Its password set on every start, so a cluster made earlier has the one the tests use; it may
    # create the tests' schemas and nothing more.
    postgres_as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U escalator -d postgres -qc "
        DO \$\$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'escalator_password') THEN
                CREATE ROLE escalator_password LOGIN;
            END IF;
        END \$\$;
        ALTER ROLE escalator_password NOSUPERUSER PASSWORD 'right-password';
        GRANT CREATE ON DATABASE escalator TO escalator_password;" >/dev/null
    export ESCALATOR_TEST_POSTGRES_URL="postgres://escalator@127.0.0.1:$port/escalator"
    export ESCALATOR_TEST_POSTGRES_TLS_DIR="$dir/tls"
}

postgres_stop() {
    local dir=$1 bin
    bin=$(postgres_bin) || return 0
    [ -f "$dir/data/PG_VERSION" ] || return 0
    postgres_as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}
