//! `peers.<name>.wireguard`: the peer's own tunnel.

use super::peer::Taken;
use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeerWireguard {
    public_key: Option<String>,
    endpoint: Option<String>,
    interface: Option<String>,
    listen_port: Option<u16>,
    persistent_keepalive: Option<u16>,
    mtu: Option<u32>,
    dead_after: Option<u16>,
}

/// Validates `peers.<name>.wireguard`; `None` when anything in it is wrong
/// (every problem is reported).
pub(super) fn peer_wireguard(
    cx: &mut Ctx,
    name: &str,
    w: &RawPeerWireguard,
    ifnames: &mut BTreeMap<String, String>,
    ports: &mut BTreeMap<u16, String>,
) -> Option<PeerWireguard> {
    let base = format!("peers.{name}.wireguard");
    let public_key = public_key(cx, &base, w);
    let endpoint = endpoint(cx, &base, w);
    let (interface, mut ok) = interface(cx, &base, name, w, ifnames);
    let listen_port = w.listen_port.filter(|p| *p != 0);
    if let Some(port) = listen_port
        && let Some(other) = Taken::claim(ports, &port, name)
    {
        let problem = Problem::DuplicateListenPort { port, other };
        cx.err(format!("{base}.listen_port"), problem);
        ok = false;
    }
    if let Some(mtu) = w.mtu
        && !(576..=65535).contains(&mtu)
    {
        let problem = Problem::Other(format!("mtu {mtu} is outside 576..=65535"));
        cx.err(format!("{base}.mtu"), problem);
        ok = false;
    }
    let keepalive = w.persistent_keepalive.filter(|k| *k != 0);
    ok &= dead_after_fits(cx, &base, w.dead_after, keepalive);
    if !ok {
        return None;
    }
    Some(PeerWireguard {
        public_key: public_key?,
        endpoint,
        interface,
        listen_port,
        persistent_keepalive: keepalive,
        mtu: w.mtu,
        // Default 3 × keepalive; 0 turns the liveness check off.
        dead_after: match w.dead_after {
            Some(0) => None,
            Some(d) => Some(d),
            None => keepalive.map(|k| k.saturating_mul(3)),
        },
    })
}

fn public_key(cx: &mut Ctx, base: &str, w: &RawPeerWireguard) -> Option<wireguard_control::Key> {
    let key = format!("{base}.public_key");
    let Some(s) = &w.public_key else {
        cx.err(key, Problem::MissingPublicKey);
        return None;
    };
    wireguard_control::Key::from_base64(s.trim())
        .map_err(|_| cx.err(key, Problem::BadPublicKey { value: s.clone() }))
        .ok()
}

fn endpoint(cx: &mut Ctx, base: &str, w: &RawPeerWireguard) -> Option<Endpoint> {
    let s = w.endpoint.as_ref()?;
    Endpoint::parse(s)
        .map_err(|reason| {
            let problem = Problem::BadEndpoint {
                value: s.clone(),
                reason,
            };
            cx.err(format!("{base}.endpoint"), problem);
        })
        .ok()
}

/// The interface name (default `wg-<peer name>`), valid for Linux and used
/// by this peer only; the flag says whether it is.
fn interface(
    cx: &mut Ctx,
    base: &str,
    name: &str,
    w: &RawPeerWireguard,
    ifnames: &mut BTreeMap<String, String>,
) -> (String, bool) {
    // A defaulted name is reported at the interface key's parent.
    let interface = w.interface.clone().unwrap_or_else(|| format!("wg-{name}"));
    let key = format!("{base}.interface");
    let mut ok = true;
    if let Err(mut reason) = check_ifname(&interface) {
        if w.interface.is_none() {
            reason.push_str(" (the default wg-<peer name>; set `interface:`)");
        }
        let problem = Problem::BadInterfaceName {
            name: interface.clone(),
            reason,
        };
        cx.err(key.clone(), problem);
        ok = false;
    }
    if let Some(other) = Taken::claim(ifnames, &interface, name) {
        let problem = Problem::DuplicateInterface {
            name: interface.clone(),
            other,
        };
        cx.err(key, problem);
        ok = false;
    }
    (interface, ok)
}

/// `dead_after` needs keepalives to measure silence, and must outlast them.
fn dead_after_fits(cx: &mut Ctx, base: &str, dead: Option<u16>, keepalive: Option<u16>) -> bool {
    let problem = match (dead, keepalive) {
        (Some(dead), None) if dead != 0 => Problem::Other(
            "dead_after needs persistent_keepalive (without it an idle tunnel receives nothing)"
                .into(),
        ),
        (Some(dead), Some(k)) if dead != 0 && dead <= k => Problem::Other(format!(
            "dead_after {dead} must be longer than persistent_keepalive {k}"
        )),
        _ => return true,
    };
    cx.err(format!("{base}.dead_after"), problem);
    false
}
