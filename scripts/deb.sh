#!/usr/bin/env bash
# Builds the Debian package, as root on Debian 12:
#   bash scripts/deb.sh        → target/debian/wgbgp_<version>-1_<arch>.deb
#   dpkg -i target/debian/wgbgp_*.deb
# It holds wgbgpd (/usr/sbin) and wgbgp (/usr/bin), the systemd unit
# (installed, not enabled), /etc/wgbgp/wgbgp.yaml (a commented example that
# passes `config check`), the `wgbgp` group for the control socket, man
# pages wgbgp(1) and wgbgpd(8), and bash/zsh/fish completions.
# Installs cargo-deb with cargo when it is missing. BUILD=0 packages the
# release binaries already built instead of building them.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh

require_root
ensure_rust
if ! cargo deb --version >/dev/null 2>&1; then
    log "installing cargo-deb"
    cargo install cargo-deb --locked
fi

target="${CARGO_TARGET_DIR:-target}"
if [ "${BUILD:-1}" != 0 ]; then
    log "building release binaries"
    cargo build --release -p wgbgp --bins
fi

# What cargo-deb takes from target/deb-assets (bin/Cargo.toml's
# [package.metadata.deb]): generated from the binaries themselves, so the
# man pages and completions always match --help.
# bin/Cargo.toml names this path, whatever CARGO_TARGET_DIR is.
assets=target/deb-assets
rm -rf "$assets"
mkdir -p "$assets/man" "$assets/completions"
"$target/release/wgbgp" man "$assets/man"
"$target/release/wgbgp" completions bash > "$assets/completions/wgbgp"
"$target/release/wgbgp" completions zsh > "$assets/completions/_wgbgp"
"$target/release/wgbgp" completions fish > "$assets/completions/wgbgp.fish"
# The unit as contrib/ has it, with the package's paths and without the
# header that explains installing by hand.
{
    echo "# wgbgpd: eBGP speaker with per-peer WireGuard tunnels (Debian package)."
    echo "# Edit /etc/wgbgp/wgbgp.yaml, then: systemctl enable --now wgbgpd"
    sed -e '1,/^$/d' \
        -e 's#/usr/local/bin/wgbgpd#/usr/sbin/wgbgpd#g' \
        -e 's#/usr/local/bin/wgbgp#/usr/bin/wgbgp#g' contrib/wgbgpd.service
} > "$assets/wgbgpd.service"

log "packaging"
mkdir -p "$target/debian"
# Stripped: the release profile keeps line tables for backtraces in
# development, which would make the package ten times larger.
cargo deb -p wgbgp --no-build --strip --output "$target/debian/" 2> >(grep -v "are detected as Cargo target dir" >&2)
