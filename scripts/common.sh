# Shared by scripts/test.sh and scripts/lab.sh (sourced, not run).
# Installs what the project needs on a fresh Debian 12 machine, as root:
# the WireGuard userspace implementation and tools, BIRD 2, FRR, GoBGP,
# iproute2, ping, tcpdump, a C toolchain for linking, and Rust via rustup
# when cargo is missing or too old for the workspace's rust-version.

# Debian packages the tests and the lab use.
WGBGP_PACKAGES=(wireguard-go wireguard-tools bird2 frr iproute2 iputils-ping gobgpd exabgp
    tcpdump prometheus build-essential pkg-config curl ca-certificates)
# The workspace's rust-version (Cargo.toml).
WGBGP_MIN_RUST=1.89

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "run this as root (namespaces, WireGuard and routes need it): sudo bash $0"
}

# Fails loudly if network namespaces cannot be made here (e.g. an unprivileged
# container): the namespace tests must fail, never skip.
require_netns() {
    command -v ip >/dev/null || die "iproute2 (ip) is missing"
    local probe="wgprobe-$$"
    if ! ip netns add "$probe" 2>/tmp/wgbgp-netns-probe.$$; then
        local why; why=$(cat /tmp/wgbgp-netns-probe.$$); rm -f /tmp/wgbgp-netns-probe.$$
        die "'ip netns add' does not work on this machine ($why); the namespace tests cannot run"
    fi
    rm -f /tmp/wgbgp-netns-probe.$$
    ip netns del "$probe"
}

# Installs the Debian packages that are missing, without letting their
# services start (the tests run their own instances inside namespaces), and
# stops bird/frr if they were running as services already.
install_packages() {
    local missing=() p
    for p in "${WGBGP_PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing: ${missing[*]}"
        command -v apt-get >/dev/null || die "apt-get not found: this script expects Debian 12"
        local made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            # Debian's documented switch that keeps maintainer scripts from
            # starting services during this install only.
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            made_policy=1
        fi
        local rc=0
        DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
        if [ "$rc" -eq 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
        fi
        [ "$made_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d
        [ "$rc" -eq 0 ] || die "apt-get failed (exit $rc)"
    fi
    local svc
    for svc in bird bird6 frr gobgpd exabgp prometheus; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping the $svc service (not needed: tests run their own in namespaces)"
            systemctl stop "$svc" || true
        fi
    done
}

# Makes a cargo at least WGBGP_MIN_RUST available on PATH, installing Rust
# with rustup (its usual installer) when there is none.
ensure_rust() {
    local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    if [ -x "$cargo_bin/cargo" ]; then
        export PATH="$cargo_bin:$PATH"
    fi
    if command -v cargo >/dev/null && rust_is_new_enough; then
        return
    fi
    if command -v rustup >/dev/null; then
        log "updating the Rust toolchain with rustup"
        rustup toolchain install stable --profile minimal
        rustup default stable
    else
        log "installing Rust with rustup"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
            | sh -s -- -y --profile minimal --default-toolchain stable
        export PATH="$cargo_bin:$PATH"
    fi
    rust_is_new_enough || die "cargo $(cargo --version 2>&1) is older than $WGBGP_MIN_RUST"
}

rust_is_new_enough() {
    local have
    have=$(cargo --version 2>/dev/null | awk '{print $2}') || return 1
    [ -n "$have" ] || return 1
    [ "$(printf '%s\n%s\n' "$WGBGP_MIN_RUST" "${have%%-*}" | sort -V | head -n1)" = "$WGBGP_MIN_RUST" ]
}

# Everything the tests and the lab need, in order.
prepare_machine() {
    require_root
    install_packages
    ensure_rust
    require_netns
}
