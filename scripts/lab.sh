#!/usr/bin/env bash
# The lab demo, as the README gives it: on a fresh Debian 12 machine, as root,
# `bash scripts/lab.sh`. Builds wgbgp, brings up the seed lab of the blog post
# in network namespaces with wgbgpd on S1, S2 and S3 over userspace
# WireGuard, prints the BGP summary, S1's kernel routes and the pings, then
# waits for Ctrl-C and removes everything it made.
#
#            lo 1.1.1.1                       lo 2.2.2.2, 198.19.0.1
#   +------+ eth1 10.1.0.2   10.2.0.2 eth1 +------+
#   |  S1  |------ R1 (forwards only) -----|  S2  |  AS 65501
#   +------+ AS 65500  \                   +------+
#    tunnels to S2, S3  \ 10.3.0.2 eth1    +------+
#                        `-----------------|  S3  |  AS 65502
#                                          +------+
#                                   lo 3.3.3.3, 198.18.0.1
#
# Options: --once  tear down right after printing (no waiting for Ctrl-C).
#          --no-build  use the binaries already in target/release.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

ONCE=0 BUILD=1
for arg in "$@"; do
    case "$arg" in
        --once) ONCE=1 ;;
        --no-build) BUILD=0 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown option $arg (try --help)" ;;
    esac
done

# Unique per run, so a second lab or the test suite can run beside it.
P="wglab$$"
NS_S1="$P-s1" NS_R1="$P-r1" NS_S2="$P-s2" NS_S3="$P-s3"
# WireGuard interface names are machine-wide (wireguard-go's sockets share
# /var/run/wireguard), at most 15 characters.
IF_S1_S2="wg-s2" IF_S1_S3="wg-s3" IF_S2_S1="wg$$-21" IF_S3_S1="wg$$-31"
DIR=""
PIDS=()
CLEANED=0

cleanup() {
    [ "$CLEANED" -eq 1 ] && return
    CLEANED=1
    set +e
    echo >&2
    log "cleaning up"
    local pid ns
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        # wgbgpd withdraws its routes and removes its tunnels on SIGTERM.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "$NS_S1" "$NS_S2" "$NS_S3" "$NS_R1"; do
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for ifname in "$IF_S1_S2" "$IF_S1_S3" "$IF_S2_S1" "$IF_S3_S1"; do
        rm -f "/var/run/wireguard/$ifname.sock"
    done
    [ -n "$DIR" ] && rm -rf "$DIR"
    log "lab removed"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

prepare_machine

if [ "$BUILD" -eq 1 ]; then
    log "building wgbgpd and wgbgp (release)"
    cargo build --release --workspace --bins
fi
TARGET="${CARGO_TARGET_DIR:-$PWD/target}/release"
WGBGPD="$TARGET/wgbgpd" WGBGP="$TARGET/wgbgp"
[ -x "$WGBGPD" ] && [ -x "$WGBGP" ] || die "no $WGBGPD or $WGBGP: build with cargo build --release --bins"
for ifname in "$IF_S1_S2" "$IF_S1_S3"; do
    [ ! -e "/var/run/wireguard/$ifname.sock" ] \
        || die "$ifname already exists (another lab running?); stop it first"
done

DIR=$(mktemp -d /tmp/wgbgp-lab.XXXXXX)
log "lab files in $DIR; namespaces $NS_S1 $NS_R1 $NS_S2 $NS_S3"

# --- the underlay: R1 only routes -----------------------------------------
for ns in "$NS_S1" "$NS_R1" "$NS_S2" "$NS_S3"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
link() { # ns_a if_a addr_a ns_b if_b addr_b
    ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
    ip -n "$1" addr add "$3" dev "$2"; ip -n "$1" link set "$2" up
    ip -n "$4" addr add "$6" dev "$5"; ip -n "$4" link set "$5" up
}
link "$NS_S1" eth1 10.1.0.2/24 "$NS_R1" eth1 10.1.0.1/24
link "$NS_R1" eth2 10.2.0.1/24 "$NS_S2" eth1 10.2.0.2/24
link "$NS_R1" eth3 10.3.0.1/24 "$NS_S3" eth1 10.3.0.2/24
# (/proc/sys/net is per namespace; no dependency on procps' sysctl)
ip netns exec "$NS_R1" sh -c 'echo 1 >/proc/sys/net/ipv4/ip_forward'
ip -n "$NS_S1" route add 10.0.0.0/8 via 10.1.0.1
ip -n "$NS_S2" route add 10.0.0.0/8 via 10.2.0.1
ip -n "$NS_S3" route add 10.0.0.0/8 via 10.3.0.1

# --- keys -------------------------------------------------------------------
genkey() { # file
    # umask first: the key must never be readable by others, not even briefly.
    ( umask 077; "$WGBGP" genkey >"$1" 2>/dev/null || true
      # A WireGuard key is 32 bytes in base64: 44 characters.
      [ "$(tr -d '\n' <"$1" | wc -c)" -eq 44 ] || wg genkey >"$1" )
}
pubkey() { # file
    local k
    if k=$("$WGBGP" pubkey <"$1" 2>/dev/null) && [ "${#k}" -eq 44 ]; then echo "$k"; else wg pubkey <"$1"; fi
}
for r in s1 s2 s3; do genkey "$DIR/$r.key"; done
PUB1=$(pubkey "$DIR/s1.key") PUB2=$(pubkey "$DIR/s2.key") PUB3=$(pubkey "$DIR/s3.key")

# --- configs (schema of issue 2) ---------------------------------------------
cat >"$DIR/s1.yaml" <<YAML
router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32]
control_socket: $DIR/s1.sock
kernel: { table: 254, metric: 20 }
wireguard:
  private_key_file: $DIR/s1.key
  backend: auto
peers:
  s2:
    asn: 65501
    address: 2.2.2.2
    description: S2
    wireguard:
      public_key: $PUB2
      endpoint: 10.2.0.2:51820
      interface: $IF_S1_S2
      persistent_keepalive: 25
    import: [accept-all]
    export: [nothing]
  s3:
    asn: 65502
    address: 3.3.3.3
    description: S3
    wireguard:
      public_key: $PUB3
      endpoint: 10.3.0.2:51820
      interface: $IF_S1_S3
      persistent_keepalive: 25
    import: [accept-all]
    export: [nothing]
policies:
  accept-all:
    - action: accept
  # S1 originates nothing and is no transit between S2 and S3.
  nothing:
    - action: reject
YAML
spoke() { # name asn loopback prefix ifname
    cat <<YAML
router_id: $3
asn: $2
loopback: [$3/32, $4]
control_socket: $DIR/$1.sock
kernel: { table: 254, metric: 20 }
wireguard:
  private_key_file: $DIR/$1.key
  backend: auto
announce: [$4]
peers:
  s1:
    asn: 65500
    address: 1.1.1.1
    description: S1
    wireguard:
      public_key: $PUB1
      interface: $5
      listen_port: 51820
    import: [accept-all]
    export: [local-only]
policies:
  accept-all:
    - action: accept
  local-only:
    - match: { prefix: [$4] }
      action: accept
    - action: reject
YAML
}
spoke s2 65501 2.2.2.2 198.19.0.1/32 "$IF_S2_S1" >"$DIR/s2.yaml"
spoke s3 65502 3.3.3.3 198.18.0.1/32 "$IF_S3_S1" >"$DIR/s3.yaml"

# --- the daemons -----------------------------------------------------------
start_daemon() { # node
    local ns="$P-$1"
    RUST_LOG="${RUST_LOG:-info}" ip netns exec "$ns" "$WGBGPD" --config "$DIR/$1.yaml" \
        </dev/null >"$DIR/$1.log" 2>&1 &
    PIDS+=("$!")
    log "wgbgpd started in $ns (pid $!, log $DIR/$1.log)"
}
cli() { ip netns exec "$NS_S1" "$WGBGP" --socket "$DIR/s1.sock" "$@"; }
# "ADDR STATE" once per peer of node $1, from its summary in both families
# (a peer is listed under each family it has; its session is one).
peer_states() { # node
    ip netns exec "$P-$1" "$WGBGP" --socket "$DIR/$1.sock" show bgp summary --json 2>/dev/null |
        awk '/^ *"[0-9a-fA-F.:]+": \{$/ { split($0, q, "\""); peer = q[2] }
             peer != "" && /^ *"state": / { split($0, q, "\""); print peer, q[4]; peer = "" }' |
        sort -u
}
fail_node() { # node why
    local ns="$P-$1"
    echo "### $1: wgbgp show bgp summary" >&2
    ip netns exec "$ns" "$WGBGP" --socket "$DIR/$1.sock" show bgp summary >&2 || true
    echo "### $1: last 40 lines of $DIR/$1.log" >&2
    tail -n 40 "$DIR/$1.log" >&2
    die "$2"
}
START=$(date +%s.%N)
start_daemon s2
start_daemon s3
# The spokes have no endpoint for S1: they wait for its handshake. One that
# arrives before a spoke's tunnel is up is lost, and WireGuard sends the next
# only 5 s later (REKEY_TIMEOUT); so S1 starts once both answer with their
# tunnel and session set up.
for r in s2 s3; do
    for i in $(seq 100); do
        [ -n "$(peer_states "$r")" ] && break
        for pid in "${PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null || fail_node "$r" "wgbgpd (pid $pid) exited"
        done
        [ "$i" -eq 100 ] && fail_node "$r" "$r: wgbgpd not answering on $DIR/$r.sock after 10 s"
        sleep 0.1
    done
done
start_daemon s1

# The session to each peer must be Established on both of its ends: S1 to
# S2 and S3, and each spoke to S1.
WANT=("s1 2.2.2.2" "s1 3.3.3.3" "s2 1.1.1.1" "s3 1.1.1.1")
# Prints the first "node peer state" still not Established; none: all are.
first_down() {
    local w node peer states st
    for w in "${WANT[@]}"; do
        read -r node peer <<<"$w"
        states=$(peer_states "$node")
        st=$(awk -v p="$peer" '$1 == p { print $2 }' <<<"$states" | sort -u | paste -sd/ -)
        [ "$st" = Established ] || { echo "$node $peer ${st:-unknown}"; return; }
    done
}
log "waiting for the sessions S1-S2 and S1-S3 (on both ends)"
for i in $(seq 300); do
    down=$(first_down)
    [ -z "$down" ] && break
    for pid in "${PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || { tail -n 30 "$DIR"/s*.log >&2; die "wgbgpd (pid $pid) exited"; }
    done
    if [ "$i" -eq 300 ]; then
        read -r node peer st <<<"$down"
        fail_node "$node" "$node: session to $peer is $st, not Established, after 60 s"
    fi
    sleep 0.2
done
log "all sessions Established $(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s after the daemons started"
# The routes S2 and S3 announce must be in S1's kernel before the pings.
for dst in 198.18.0.1 198.19.0.1; do
    for i in $(seq 40); do
        ip -n "$NS_S1" route show proto bgp "$dst/32" | grep -q . && break
        [ "$i" -eq 40 ] && fail_node s1 "s1: no route to $dst/32 in the kernel 20 s after all sessions came up"
        sleep 0.5
    done
done

echo
echo "### S1: wgbgp show bgp summary"
cli show bgp summary
echo
echo "### S1: ip route show proto bgp"
ip -n "$NS_S1" route show proto bgp
echo
status=0
for dst in 198.18.0.1 198.19.0.1; do
    echo "### S1: ping -c 3 $dst"
    ip netns exec "$NS_S1" ping -n -c 3 -W 2 "$dst" || status=1
    echo
done

if [ "$ONCE" -eq 1 ]; then
    exit "$status"
fi
echo "The lab is up. Try: ip netns exec $NS_S1 $WGBGP --socket $DIR/s1.sock show bgp ipv4 unicast"
echo "Press Ctrl-C to tear it down."
while :; do sleep 1; done
