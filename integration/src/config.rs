//! A small typed builder for wgbgpd's YAML config, so that tests and benches
//! say what differs (a peer's tunnel, its timers, a policy) instead of
//! repeating the whole file.
//!
//! ```
//! use integration::config::{Config, Peer, Tunnel};
//! let yaml = Config::new("1.1.1.1", 65501)
//!     .loopback("1.1.1.1/32")
//!     .wireguard("/keys/a.key")
//!     .peer(
//!         Peer::new("p", 65502, "2.2.2.2")
//!             .tunnel(Tunnel::new("PUBKEY", "wg0").endpoint("10.8.0.2:51820").keepalive(1))
//!             .policies("all", "all"),
//!     )
//!     .accept_all("all")
//!     .render();
//! assert!(yaml.contains("      endpoint: 10.8.0.2:51820\n"));
//! ```
//!
//! Values are written as given (YAML scalars or flow collections), in the
//! order the builder calls came; [`Config::render`] gives the text that
//! [`crate::Wgbgpd::start`] takes.

use std::fmt::Write;

/// One wgbgpd config file.
#[derive(Clone, Debug)]
pub struct Config {
    router_id: String,
    asn: u32,
    loopbacks: Vec<String>,
    announce: Vec<String>,
    /// Top-level lines after `announce` (metrics, kernel, ...).
    top: Vec<String>,
    /// Lines under the top-level `wireguard:`.
    wireguard: Vec<String>,
    peers: Vec<Peer>,
    policies: Vec<(String, Vec<String>)>,
    /// Raw YAML appended at the end (e.g. a `kernel:` section).
    tail: String,
}

impl Config {
    /// `router_id` and `asn`, nothing else yet.
    pub fn new(router_id: &str, asn: u32) -> Config {
        Config {
            router_id: router_id.to_string(),
            asn,
            loopbacks: Vec::new(),
            announce: Vec::new(),
            top: Vec::new(),
            wireguard: Vec::new(),
            peers: Vec::new(),
            policies: Vec::new(),
            tail: String::new(),
        }
    }

    /// A tunnel node as the tests draw it: router ID `id`, loopback `id/32`,
    /// the userspace backend with its key in `key_file`.
    pub fn tunnel_node(id: &str, asn: u32, key_file: &str) -> Config {
        Config::new(id, asn)
            .loopback(&format!("{id}/32"))
            .wireguard(key_file)
    }

    /// Adds a `loopback:` entry (`"1.1.1.1/32"`, `"fd00::1/128"`).
    pub fn loopback(mut self, cidr: &str) -> Config {
        self.loopbacks.push(cidr.to_string());
        self
    }

    /// Adds an `announce:` prefix.
    pub fn announce(mut self, prefix: &str) -> Config {
        self.announce.push(prefix.to_string());
        self
    }

    /// `metrics: { listen: "ADDR" }`.
    pub fn metrics(self, listen: &str) -> Config {
        self.top_level("metrics", &format!("{{ listen: \"{listen}\" }}"))
    }

    /// Any other top-level `key: value` (value as YAML).
    pub fn top_level(mut self, key: &str, value: &str) -> Config {
        self.top.push(format!("{key}: {value}"));
        self
    }

    /// The top-level `wireguard:` with `private_key_file` and the userspace
    /// backend (wireguard-go; there is no kernel module here).
    pub fn wireguard(mut self, key_file: &str) -> Config {
        self.wireguard = vec![
            format!("private_key_file: \"{key_file}\""),
            "backend: userspace".to_string(),
        ];
        self
    }

    /// Adds `key: value` under the top-level `wireguard:` (e.g. `keep_on_exit`).
    pub fn wireguard_option(mut self, key: &str, value: &str) -> Config {
        self.wireguard.push(format!("{key}: {value}"));
        self
    }

    /// Adds a peer.
    pub fn peer(mut self, peer: Peer) -> Config {
        self.peers.push(peer);
        self
    }

    /// Changes the peer called `name` (panics if there is none).
    pub fn with_peer(mut self, name: &str, f: impl FnOnce(Peer) -> Peer) -> Config {
        let i = self
            .peers
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no peer {name} in the config"));
        let p = self.peers.remove(i);
        self.peers.insert(i, f(p));
        self
    }

    /// Changes every peer.
    pub fn with_peers(mut self, f: impl Fn(Peer) -> Peer) -> Config {
        self.peers = self.peers.into_iter().map(f).collect();
        self
    }

    /// Adds a policy whose rules are YAML flow maps, one per rule, e.g.
    /// `r#"{ match: { prefix: ["0.0.0.0/0"] }, action: accept }"#`.
    pub fn policy(mut self, name: &str, rules: &[&str]) -> Config {
        self.policies.push((
            name.to_string(),
            rules.iter().map(|r| r.to_string()).collect(),
        ));
        self
    }

    /// A policy `name` that accepts everything.
    pub fn accept_all(self, name: &str) -> Config {
        self.policy(name, &["{ action: accept }"])
    }

    /// A policy `name` that rejects everything.
    pub fn reject_all(self, name: &str) -> Config {
        self.policy(name, &["{ action: reject }"])
    }

    /// A policy `name` that accepts exactly `prefix` and rejects the rest.
    pub fn only(self, name: &str, prefix: &str) -> Config {
        let accept = format!("{{ match: {{ prefix: [\"{prefix}\"] }}, action: accept }}");
        self.policy(name, &[&accept, "{ action: reject }"])
    }

    /// Raw YAML appended after the policies (e.g. a `kernel:` section).
    pub fn tail(mut self, yaml: &str) -> Config {
        self.tail.push_str(yaml);
        self
    }

    /// The YAML text.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "router_id: {}", self.router_id);
        let _ = writeln!(s, "asn: {}", self.asn);
        if !self.loopbacks.is_empty() {
            let _ = writeln!(s, "loopback: [{}]", quoted(&self.loopbacks));
        }
        if !self.announce.is_empty() {
            let _ = writeln!(s, "announce: [{}]", quoted(&self.announce));
        }
        for line in &self.top {
            let _ = writeln!(s, "{line}");
        }
        if !self.wireguard.is_empty() {
            s.push_str("wireguard:\n");
            for line in &self.wireguard {
                let _ = writeln!(s, "  {line}");
            }
        }
        s.push_str("peers:");
        if self.peers.is_empty() {
            s.push_str(" {}");
        }
        s.push('\n');
        for p in &self.peers {
            p.render(&mut s);
        }
        if !self.policies.is_empty() {
            s.push_str("policies:\n");
            for (name, rules) in &self.policies {
                let _ = writeln!(s, "  {name}:");
                for r in rules {
                    let _ = writeln!(s, "    - {r}");
                }
            }
        }
        s.push_str(&self.tail);
        s
    }
}

impl std::fmt::Display for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One entry under `peers:`.
#[derive(Clone, Debug)]
pub struct Peer {
    name: String,
    /// `key: value` lines in order, `asn` and `address` first.
    lines: Vec<String>,
    tunnel: Option<Tunnel>,
    import: String,
    export: String,
}

impl Peer {
    /// A peer called `name` in AS `asn` at `address`, importing and
    /// exporting with a policy called `all` until [`Peer::policies`] says else.
    pub fn new(name: &str, asn: u32, address: &str) -> Peer {
        Peer {
            name: name.to_string(),
            lines: vec![format!("asn: {asn}"), format!("address: \"{address}\"")],
            tunnel: None,
            import: "all".to_string(),
            export: "all".to_string(),
        }
    }

    /// Replaces the address with several (one session per address family).
    pub fn addresses(mut self, addresses: &[&str]) -> Peer {
        self.lines[1] = format!(
            "address: [{}]",
            quoted(&addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        );
        self
    }

    /// A plain eBGP peer on a connected link: `address` and `local_address`.
    pub fn plain(name: &str, asn: u32, address: &str, local_address: &str) -> Peer {
        Peer::new(name, asn, address).set("local_address", local_address)
    }

    /// Any `key: value` (value as YAML), e.g. `set("graceful_restart", "true")`.
    pub fn set(mut self, key: &str, value: &str) -> Peer {
        self.lines.push(format!("{key}: {value}"));
        self
    }

    /// `hold_time` and `keepalive` in seconds.
    pub fn timers(self, hold_time: u16, keepalive: u16) -> Peer {
        self.set("hold_time", &hold_time.to_string())
            .set("keepalive", &keepalive.to_string())
    }

    /// `bfd: { interval_ms, multiplier }`.
    pub fn bfd(self, interval_ms: u32, multiplier: u8) -> Peer {
        self.set(
            "bfd",
            &format!("{{ interval_ms: {interval_ms}, multiplier: {multiplier} }}"),
        )
    }

    /// The peer's `wireguard:` block.
    pub fn tunnel(mut self, tunnel: Tunnel) -> Peer {
        self.tunnel = Some(tunnel);
        self
    }

    /// Changes the peer's tunnel (panics if it has none).
    pub fn with_tunnel(mut self, f: impl FnOnce(Tunnel) -> Tunnel) -> Peer {
        let t = self.tunnel.take().expect("the peer has no tunnel");
        self.tunnel = Some(f(t));
        self
    }

    /// The import and export policy names.
    pub fn policies(mut self, import: &str, export: &str) -> Peer {
        self.import = import.to_string();
        self.export = export.to_string();
        self
    }

    fn render(&self, s: &mut String) {
        let _ = writeln!(s, "  {}:", self.name);
        for line in &self.lines {
            let _ = writeln!(s, "    {line}");
        }
        if let Some(t) = &self.tunnel {
            s.push_str("    wireguard:\n");
            for line in &t.lines {
                let _ = writeln!(s, "      {line}");
            }
        }
        let _ = writeln!(s, "    import: [{}]", self.import);
        let _ = writeln!(s, "    export: [{}]", self.export);
    }
}

/// A peer's `wireguard:` block.
#[derive(Clone, Debug)]
pub struct Tunnel {
    lines: Vec<String>,
}

impl Tunnel {
    /// The other end's public key and the interface wgbgpd makes for it.
    pub fn new(public_key: &str, interface: &str) -> Tunnel {
        Tunnel {
            lines: vec![
                format!("public_key: {public_key}"),
                format!("interface: {interface}"),
            ],
        }
    }

    /// Any `key: value` (value as YAML).
    pub fn set(mut self, key: &str, value: &str) -> Tunnel {
        self.lines.push(format!("{key}: {value}"));
        self
    }

    /// `endpoint: IP:PORT`: this end dials.
    pub fn endpoint(self, endpoint: &str) -> Tunnel {
        self.set("endpoint", endpoint)
    }

    /// `listen_port`.
    pub fn listen_port(self, port: u16) -> Tunnel {
        self.set("listen_port", &port.to_string())
    }

    /// `persistent_keepalive` in seconds.
    pub fn keepalive(self, secs: u16) -> Tunnel {
        self.set("persistent_keepalive", &secs.to_string())
    }

    /// `dead_after` in seconds (liveness).
    pub fn dead_after(self, secs: u64) -> Tunnel {
        self.set("dead_after", &secs.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_tunnel_peer_in_order() {
        let yaml = Config::tunnel_node("1.1.1.1", 65501, "/k/a.key")
            .metrics("127.0.0.1:9179")
            .peer(
                Peer::new("p", 65502, "2.2.2.2")
                    .tunnel(
                        Tunnel::new("PUB", "wga")
                            .endpoint("10.8.0.2:51820")
                            .keepalive(1),
                    )
                    .bfd(150, 3),
            )
            .accept_all("all")
            .render();
        assert_eq!(
            yaml,
            "router_id: 1.1.1.1\nasn: 65501\nloopback: [\"1.1.1.1/32\"]\n\
             metrics: { listen: \"127.0.0.1:9179\" }\nwireguard:\n  \
             private_key_file: \"/k/a.key\"\n  backend: userspace\npeers:\n  p:\n    \
             asn: 65502\n    address: \"2.2.2.2\"\n    \
             bfd: { interval_ms: 150, multiplier: 3 }\n    wireguard:\n      \
             public_key: PUB\n      interface: wga\n      endpoint: 10.8.0.2:51820\n      \
             persistent_keepalive: 1\n    import: [all]\n    export: [all]\n\
             policies:\n  all:\n    - { action: accept }\n"
        );
    }

    #[test]
    fn with_peer_changes_only_that_peer() {
        let c = Config::new("1.1.1.1", 1)
            .peer(Peer::new("a", 2, "10.0.0.2"))
            .peer(Peer::new("b", 3, "10.0.0.3"))
            .with_peer("b", |p| p.set("passive", "true"))
            .render();
        assert_eq!(c.matches("passive: true").count(), 1, "{c}");
        assert!(c.find("passive").unwrap() > c.find("  b:").unwrap(), "{c}");
        assert!(Config::new("x", 1).render().contains("peers: {}\n"));
    }
}
