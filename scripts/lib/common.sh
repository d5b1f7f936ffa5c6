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
