//! The receivers under test, each configured as a plain eBGP peer of the
//! sender that imports everything and installs it into its namespace's main
//! table, and the two floors that install the same routes without BGP.
//!
//! - wgbgpd: `import: [accept-all]`, no WireGuard, kernel table 254, metric 20.
//! - BIRD 2: `bgp` (import all, export none) + `kernel` per family (export
//!   all, learn off, default scan time), `protocol device`.
//! - FRR: bgpd + zebra, `no bgp ebgp-requires-policy`; zebra with
//!   `-s 90000000` (the netlink buffer Debian's `/etc/frr/daemons` gives it).
//!
//! Every receiver is passive: the sender opens the TCP session, so there is
//! no connection collision and no connect-retry timer in the way.

use crate::config::{Config, Peer};
use crate::netns::Netns;
use crate::{Bird, Frr, Wgbgpd};

use super::Topology;

/// Which implementation receives the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    Wgbgpd,
    Bird,
    Frr,
    /// Floor: `ip -batch` with one `route add`/`route del` line per prefix.
    IpBatch,
    /// Floor: rib's raw batched netlink writer (`FibWriter`, 256 per send),
    /// prefixes in address order.
    Netlink,
    /// The same writer with the prefixes in a seeded random order, to see
    /// what the order costs the kernel's trie.
    NetlinkRandom,
}

impl ReceiverKind {
    /// What `fullfeed` runs when not told otherwise.
    pub const DEFAULT: [ReceiverKind; 5] = [
        ReceiverKind::Wgbgpd,
        ReceiverKind::Bird,
        ReceiverKind::Frr,
        ReceiverKind::IpBatch,
        ReceiverKind::Netlink,
    ];

    pub const ALL: [ReceiverKind; 6] = [
        ReceiverKind::Wgbgpd,
        ReceiverKind::Bird,
        ReceiverKind::Frr,
        ReceiverKind::IpBatch,
        ReceiverKind::Netlink,
        ReceiverKind::NetlinkRandom,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ReceiverKind::Wgbgpd => "wgbgpd",
            ReceiverKind::Bird => "bird",
            ReceiverKind::Frr => "frr",
            ReceiverKind::IpBatch => "ip-batch",
            ReceiverKind::Netlink => "netlink",
            ReceiverKind::NetlinkRandom => "netlink-random",
        }
    }

    pub fn parse(s: &str) -> Option<ReceiverKind> {
        ReceiverKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// True for the BGP speakers (the others are floors).
    pub fn is_bgp(self) -> bool {
        matches!(
            self,
            ReceiverKind::Wgbgpd | ReceiverKind::Bird | ReceiverKind::Frr
        )
    }

    /// `rtm_protocol` of the routes this receiver installs.
    pub fn protocol(self) -> u8 {
        match self {
            // RTPROT_BIRD
            ReceiverKind::Bird => 12,
            _ => rib::kernel::RTPROT_BGP,
        }
    }
}

/// A receiver daemon running in the receiver namespace; stopped on drop.
pub enum Running {
    Wgbgpd(Wgbgpd),
    Bird(Bird),
    Frr(Frr),
}

/// Starts `kind` (a BGP receiver) in `ns` for the topology `t`.
pub fn start(kind: ReceiverKind, ns: &Netns, t: &Topology) -> Running {
    match kind {
        ReceiverKind::Wgbgpd => Running::Wgbgpd(Wgbgpd::start(ns, &wgbgpd_config(t))),
        ReceiverKind::Bird => Running::Bird(Bird::start(ns, &bird_config(t))),
        // zebra needs Debian's netlink buffer (`-s`) or it overruns on a full table.
        ReceiverKind::Frr => Running::Frr(Frr::start_with(
            ns,
            &frr_bgpd_config(t),
            "hostname bench-receiver\n",
            &["-s", "90000000"],
        )),
        other => panic!("{} is not a BGP receiver", other.name()),
    }
}

impl Running {
    /// Panics with the daemon's log if it has exited.
    pub fn check_alive(&mut self) {
        match self {
            Running::Wgbgpd(d) => d.check_alive(),
            Running::Bird(b) => b.check_alive(),
            Running::Frr(f) => f.check_alive(),
        }
    }

    pub fn kind(&self) -> ReceiverKind {
        match self {
            Running::Wgbgpd(_) => ReceiverKind::Wgbgpd,
            Running::Bird(_) => ReceiverKind::Bird,
            Running::Frr(_) => ReceiverKind::Frr,
        }
    }

    /// The last lines of the daemon's log, for reports of a failed run.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = match self {
            Running::Wgbgpd(d) => d.log_text(),
            Running::Bird(_) => String::new(),
            Running::Frr(f) => {
                std::fs::read_to_string(f.dir().join("bgpd.log")).unwrap_or_default()
                    + &std::fs::read_to_string(f.dir().join("zebra.log")).unwrap_or_default()
            }
        };
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// wgbgpd as a plain eBGP receiver of the sender, its peer called `name`: no
/// WireGuard, passive, hold time 240 s, accept all, export nothing.
pub fn wgbgpd_receiver(t: &Topology, name: &str) -> Config {
    let rid = t.receiver_v4.to_string();
    let feed = Peer::plain(name, t.sender_asn, &t.sender_v4.to_string(), &rid)
        .set("passive", "true")
        .set("hold_time", "240")
        .policies("accept-all", "nothing");
    // wgbgpd wants a loopback per session family; the session itself is
    // sourced from the veth address (local_address).
    Config::new(&rid, t.receiver_asn)
        .loopback(&format!("{}/32", t.receiver_lo_v4))
        .loopback(&format!("{}/128", t.receiver_lo_v6))
        .peer(feed)
        .accept_all("accept-all")
        .reject_all("nothing")
}

/// [`wgbgpd_receiver`] with its peer called `feed`, as text.
pub fn wgbgpd_config(t: &Topology) -> String {
    wgbgpd_receiver(t, "feed").render()
}

/// BIRD 2: BGP in, kernel out, both families.
pub fn bird_config(t: &Topology) -> String {
    format!(
        r#"log stderr {{ info, remote, warning, error, auth, fatal, bug }};
router id {rid};
protocol device {{ }}
protocol kernel kernel4 {{
    ipv4 {{ import none; export all; }};
    learn off;
}}
protocol kernel kernel6 {{
    ipv6 {{ import none; export all; }};
    learn off;
}}
protocol bgp feed {{
    local {rid} as {asn};
    neighbor {peer} as {peer_asn};
    passive on;
    hold time 240;
    ipv4 {{ import all; export none; }};
    ipv6 {{ import all; export none; }};
}}
"#,
        rid = t.receiver_v4,
        asn = t.receiver_asn,
        peer = t.sender_v4,
        peer_asn = t.sender_asn,
    )
}

/// FRR bgpd: one passive neighbor, both families, no policy required.
pub fn frr_bgpd_config(t: &Topology) -> String {
    format!(
        r#"frr defaults traditional
hostname bench-receiver
router bgp {asn}
 bgp router-id {rid}
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor {peer} remote-as {peer_asn}
 neighbor {peer} passive
 neighbor {peer} timers 80 240
 address-family ipv4 unicast
  neighbor {peer} activate
 exit-address-family
 address-family ipv6 unicast
  neighbor {peer} activate
 exit-address-family
"#,
        rid = t.receiver_v4,
        asn = t.receiver_asn,
        peer = t.sender_v4,
        peer_asn = t.sender_asn,
    )
}

/// `bird --version` / `zebra --version`, first line, or "unknown".
pub fn version(kind: ReceiverKind) -> String {
    let (prog, args): (String, &[&str]) = match kind {
        ReceiverKind::Bird => ("bird".into(), &["--version"]),
        ReceiverKind::Frr => (format!("{}/zebra", crate::frr::FRR_LIBEXEC), &["--version"]),
        ReceiverKind::IpBatch => ("ip".into(), &["-V"]),
        ReceiverKind::Wgbgpd | ReceiverKind::Netlink | ReceiverKind::NetlinkRandom => {
            return wgbgp_version();
        }
    };
    std::process::Command::new(prog)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines().next().map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The workspace version and, when set, `$WGBGP_COMMIT` (bench.sh sets it
/// to the commit it built).
fn wgbgp_version() -> String {
    let v = env!("CARGO_PKG_VERSION");
    match std::env::var("WGBGP_COMMIT") {
        Ok(c) if !c.is_empty() => format!("wgbgp {v} ({c})"),
        _ => format!("wgbgp {v}"),
    }
}
