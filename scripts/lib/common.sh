# Shared by Escalator's scripts. Sourced, not run.

log() { printf '==> %s\n' "$*" >&2; }

# apt_require PACKAGE...: installs the Debian packages that are not installed yet.
apt_require() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing packages ${missing[*]}; run as root or install them with apt-get" >&2
        return 1
    fi
    # The package lists may be absent on a fresh machine; refresh them once per run.
    if [ -z "${ESCALATOR_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        export ESCALATOR_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# on_exit COMMAND...: runs COMMAND when the script exits — success, failure or interrupt — after
# the commands registered later (last in, first out). An EXIT trap set before the first call is
# kept and runs last. Use it instead of `trap ... EXIT`, so one script can stop several services.
ESCALATOR_EXIT_COMMANDS=()
on_exit() {
    local command
    command=$(printf "%q " "$@")
    if [ ${#ESCALATOR_EXIT_COMMANDS[@]} -eq 0 ]; then
        local previous
        previous=$(trap -p EXIT)
        if [ -n "$previous" ]; then
            eval "set -- $previous"
            ESCALATOR_EXIT_COMMANDS+=("$3")
        fi
        [ -n "$(trap -p INT)" ] || trap 'exit 130' INT
        [ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
    fi
    ESCALATOR_EXIT_COMMANDS+=("$command")
    trap 'escalator_run_exit_commands' EXIT
}

escalator_run_exit_commands() {
    local status=$? i
    for ((i = ${#ESCALATOR_EXIT_COMMANDS[@]} - 1; i >= 0; i--)); do
        eval "${ESCALATOR_EXIT_COMMANDS[$i]}" || true
    done
    return $status
}

# test_tls_files DIR: a throwaway CA, a server certificate for `localhost` and a client
# certificate, all signed by that CA, and a CA that signed none of them: for the TLS listeners of
# the private broker and database, and the tests that connect to them.
test_tls_files() {
    local dir="$1"
    mkdir -p "$dir"
    (
        set -e
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Escalator test CA" \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=escalator-test-client" -keyout client-key.pem -out client.csr 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -out client.pem 2>/dev/null
        # A CA that signed none of the above: verification against it must fail.
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Unrelated CA" \
            -keyout other-ca-key.pem -out other-ca.pem 2>/dev/null
    ) || { echo "error: openssl could not make the test certificates in $dir" >&2; return 1; }
}
