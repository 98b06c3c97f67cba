//! The lab builder the namespace tests share:
//!
//! - [`SeedLab`]: the seed lab of the blog post, three servers behind one router;
//! - [`Pair`]: two namespaces joined by one veth;
//! - [`Keys`]: WireGuard key files, 0600, in a private directory;
//! - [`HandTunnel`]: the far end of a tunnel to wgbgpd, made by hand for a BIRD,
//!   FRR, GoBGP or ExaBGP neighbour (wgbgpd makes its own end from its config);
//! - [`WgbgpdPair`]: two wgbgpd nodes over one tunnel, with their configs;
//! - [`Leftovers`] and the `wireguard_go_*` lookups, for what a tunnel leaves
//!   running outside a namespace.
//!
//! Daemons are started from [`crate::config::Config`] with
//! [`crate::Wgbgpd::start`], [`crate::Bird::start`], [`crate::Frr::start`],
//! [`crate::Gobgpd::start`] and [`crate::ExaBgp::start`]. Every part is a
//! guard: dropped (on a failed assertion too) it stops what it started and
//! deletes what it made. Declare daemons after the lab they run in, so they
//! drop first.
//!
//! The seed lab:
//!
//! ```text
//!                                   +-----------------------+
//!                                   | S2   eth1 10.2.0.2/24 |
//!   +-------------------+  +--------+-- eth2 10.2.0.1/24    |
//!   | S1                |  | R1     |                       |
//!   | eth1 10.1.0.2/24 -+--+- eth1 10.1.0.1/24               |
//!   +-------------------+  |        |  S3   eth1 10.3.0.2/24 |
//!                          +--------+-- eth3 10.3.0.1/24    |
//!                                   +-----------------------+
//! ```
//!
//! R1 only forwards. S1, S2 and S3 reach each other's underlay through R1 by
//! a route to 10.0.0.0/8 (no default route, so nothing outside 10/8 is reachable
//! unless something such as BGP installs it). No loopbacks, tunnels or routers
//! are set up here: each test adds what it is testing.

use std::path::Path;

use crate::config::{Config, Peer, Tunnel};
use crate::netns::{Netns, link};
use crate::tempdir::TempDir;
use crate::wg::{WG_SOCKET_DIR, WgKey, WgPeer, WgPeerConfig};

/// S1's underlay address.
pub const S1_ETH: &str = "10.1.0.2";
/// S2's underlay address.
pub const S2_ETH: &str = "10.2.0.2";
/// S3's underlay address.
pub const S3_ETH: &str = "10.3.0.2";
/// The underlay aggregate S1, S2 and S3 route through R1.
pub const UNDERLAY: &str = "10.0.0.0/8";

/// The four namespaces of the seed lab, wired and routed.
pub struct SeedLab {
    /// Server 1 (the hub in the post: tunnels to S2 and S3).
    pub s1: Netns,
    /// Server 2, behind R1's eth2.
    pub s2: Netns,
    /// Server 3, behind R1's eth3.
    pub s3: Netns,
    /// The router in the middle; only forwards.
    pub r1: Netns,
}

impl SeedLab {
    /// Builds the lab and checks that S1 can ping S2 and S3 across R1.
    pub fn new() -> SeedLab {
        let lab = SeedLab {
            s1: Netns::new("s1"),
            r1: Netns::new("r1"),
            s2: Netns::new("s2"),
            s3: Netns::new("s3"),
        };
        for n in 1..=3 {
            lab.link(n);
        }
        lab.r1.sysctl("net.ipv4.ip_forward", "1");
        lab.r1.sysctl("net.ipv6.conf.all.forwarding", "1");
        for addr in [S2_ETH, S3_ETH] {
            assert!(
                lab.s1.ping(addr),
                "seed lab underlay: S1 cannot ping {addr}"
            );
        }
        lab
    }
}

impl SeedLab {
    /// Server `n` (1, 2 or 3).
    pub fn server(&self, n: u8) -> &Netns {
        match n {
            1 => &self.s1,
            2 => &self.s2,
            3 => &self.s3,
            _ => panic!("the seed lab has no S{n}"),
        }
    }

    /// Links server `n` to R1 (`eth1 10.N.0.2/24` to R1's `ethN 10.N.0.1/24`)
    /// and routes the underlay through it; a test that deleted the link
    /// brings it back with this.
    pub fn link(&self, n: u8) {
        let server = self.server(n);
        link(
            (&self.r1, &format!("eth{n}"), &format!("10.{n}.0.1/24")),
            (server, "eth1", &format!("10.{n}.0.2/24")),
        );
        server.route_add(&format!("{UNDERLAY} via 10.{n}.0.1"));
    }
}

impl Default for SeedLab {
    fn default() -> Self {
        SeedLab::new()
    }
}

/// Two namespaces joined by one veth, `IF` at both ends, `SUBNET.1/24` in A and
/// `SUBNET.2/24` in B (`Pair::new("kpa", "v0", "10.61.0")`).
pub struct Pair {
    /// The first namespace (usually wgbgpd under test).
    pub a: Netns,
    /// The second namespace.
    pub b: Netns,
    subnet: String,
}

impl Pair {
    /// Namespaces tagged `TAGa` and `TAGb`, the link up and addressed.
    pub fn new(tag: &str, ifname: &str, subnet: &str) -> Pair {
        let a = Netns::new(&format!("{tag}a"));
        let b = Netns::new(&format!("{tag}b"));
        link(
            (&a, ifname, &format!("{subnet}.1/24")),
            (&b, ifname, &format!("{subnet}.2/24")),
        );
        Pair {
            a,
            b,
            subnet: subnet.to_string(),
        }
    }

    /// A's address on the link.
    pub fn a_addr(&self) -> String {
        format!("{}.1", self.subnet)
    }

    /// B's address on the link.
    pub fn b_addr(&self) -> String {
        format!("{}.2", self.subnet)
    }
}

/// WireGuard private key files, mode 0600 as wgbgpd requires, in a private
/// directory removed on drop.
pub struct Keys {
    dir: TempDir,
}

impl Keys {
    /// An empty key directory.
    pub fn new() -> Keys {
        Keys {
            dir: TempDir::new("keys"),
        }
    }

    /// Writes `key`'s private half to `name` (replacing it) and returns the path.
    pub fn write(&self, name: &str, key: &WgKey) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.write(name, &format!("{}\n", key.private));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("chmod 600 {}: {e}", path.display()));
        path.display().to_string()
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new()
    }
}

/// The far end (in B) of a tunnel to wgbgpd in A, made by hand as the seed
/// post does, for a BIRD/FRR/GoBGP/ExaBGP neighbour. B listens on 51820 and
/// routes A's loopbacks into it; A's wgbgpd dials it with
/// [`HandTunnel::a_side`] and its key file [`HandTunnel::a_key_file`].
pub struct HandTunnel {
    /// B's tunnel end.
    pub wg: WgPeer,
    /// The interface wgbgpd in A is to make.
    pub a_if: String,
    /// A's private key file.
    pub a_key_file: String,
    /// B's public key.
    pub b_public: String,
    _keys: Keys,
}

impl HandTunnel {
    /// B's end in `b` (interface tagged `TAGb`, A's `TAGa`), with host routes
    /// to `a_loopbacks` (`"1.1.1.1/32"`) and the given keepalive.
    pub fn new(b: &Netns, tag: &str, a_loopbacks: &[&str], keepalive: Option<u16>) -> HandTunnel {
        HandTunnel::to_key(b, tag, a_loopbacks, keepalive, &WgKey::generate())
    }

    /// [`HandTunnel::new`] to A's key `ka`, for a node whose tunnels all
    /// share its one key (as wgbgpd's and a dn42 node's do).
    pub fn to_key(
        b: &Netns,
        tag: &str,
        a_loopbacks: &[&str],
        keepalive: Option<u16>,
        ka: &WgKey,
    ) -> HandTunnel {
        let kb = WgKey::generate();
        let wg = WgPeer::start(
            b,
            &format!("{tag}b"),
            &WgPeerConfig {
                private_key: kb.private.clone(),
                listen_port: Some(51820),
                peer_public_key: ka.public.clone(),
                persistent_keepalive: keepalive,
                ..Default::default()
            },
        );
        for lo in a_loopbacks {
            wg.route(b, lo);
        }
        let keys = Keys::new();
        HandTunnel {
            wg,
            a_if: crate::ifname(&format!("{tag}a")),
            a_key_file: keys.write("a.key", ka),
            b_public: kb.public,
            _keys: keys,
        }
    }

    /// A's `wireguard:` block for this tunnel, dialling `B_UNDERLAY:51820`.
    pub fn a_side(&self, b_underlay: &str) -> Tunnel {
        Tunnel::new(&self.b_public, &self.a_if).endpoint(&format!("{b_underlay}:51820"))
    }
}

/// Two wgbgpd nodes over one tunnel on a [`Pair`] (link `eth1`):
///
/// ```text
///   +-----------------+  veth SUBNET.1 -- SUBNET.2   +-----------------+
///   | A  wgbgpd       |==============================| B  wgbgpd       |
///   | lo 1.1.1.1      |   wg (keepalive 1 s)         | lo 2.2.2.2      |
///   | AS 65501        |   A dials B's :51820         | AS 65502        |
///   +-----------------+                              +-----------------+
/// ```
///
/// Each side has one peer `p` importing and exporting with policy `all`
/// (accept). Tests add to the configs and start the daemons themselves.
pub struct WgbgpdPair {
    /// The namespaces.
    pub ns: Pair,
    /// A's and B's keys.
    pub ka: WgKey,
    /// B's key.
    pub kb: WgKey,
    /// A's and B's tunnel interfaces.
    pub if_a: String,
    /// B's tunnel interface.
    pub if_b: String,
    /// Where the key files are (`a.key`, `b.key`).
    pub keys: Keys,
}

impl WgbgpdPair {
    /// The namespaces, keys and names; nothing started.
    pub fn new(tag: &str, subnet: &str) -> WgbgpdPair {
        let ns = Pair::new(tag, "eth1", subnet);
        let (ka, kb) = (WgKey::generate(), WgKey::generate());
        WgbgpdPair {
            ns,
            ka,
            kb,
            if_a: crate::ifname(&format!("{tag}a")),
            if_b: crate::ifname(&format!("{tag}b")),
            keys: Keys::new(),
        }
    }

    /// A: 1.1.1.1 in AS 65501, peer `p` = B dialling B's underlay.
    pub fn a_config(&self) -> Config {
        let key = self.keys.write("a.key", &self.ka);
        let tunnel = Tunnel::new(&self.kb.public, &self.if_a)
            .keepalive(1)
            .endpoint(&format!("{}:51820", self.ns.b_addr()));
        Config::tunnel_node("1.1.1.1", 65501, &key)
            .peer(Peer::new("p", 65502, "2.2.2.2").tunnel(tunnel))
            .accept_all("all")
    }

    /// B: 2.2.2.2 in AS 65502, peer `p` = A, listening on 51820; with `a_public`
    /// as A's key (`None`: [`WgbgpdPair::ka`]'s).
    pub fn b_config_for(&self, a_public: Option<&str>) -> Config {
        let key = self.keys.write("b.key", &self.kb);
        let tunnel = Tunnel::new(a_public.unwrap_or(&self.ka.public), &self.if_b)
            .keepalive(1)
            .listen_port(51820);
        Config::tunnel_node("2.2.2.2", 65502, &key)
            .peer(Peer::new("p", 65501, "1.1.1.1").tunnel(tunnel))
            .accept_all("all")
    }

    /// B's config with A's current key.
    pub fn b_config(&self) -> Config {
        self.b_config_for(None)
    }
}

/// The pid of the (one) wireguard-go running in `ns`; panics if there is none.
pub fn wireguard_go_pid(ns: &Netns) -> i32 {
    ns.pids()
        .into_iter()
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "wireguard-go")
        })
        .unwrap_or_else(|| panic!("no wireguard-go in {}", ns.name())) as i32
}

/// Live `wireguard-go IFACE` processes anywhere on the machine (zombies have
/// no cmdline and do not match).
pub fn wireguard_go_pids(iface: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.len() >= 2 && args[0].ends_with(b"wireguard-go") && args[1] == iface.as_bytes() {
            pids.push(pid);
        }
    }
    pids
}

/// Kills, on drop (on failure too), the wireguard-go processes serving these
/// interface names and removes their UAPI sockets and logs: what
/// `keep_on_exit` or a crashed test leaves outside any namespace.
pub struct Leftovers(pub Vec<String>);

impl Drop for Leftovers {
    fn drop(&mut self) {
        for iface in &self.0 {
            for pid in wireguard_go_pids(iface) {
                // SAFETY: kill(2) on a pid serving one of this test's interfaces.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            let _ = std::fs::remove_file(format!("{WG_SOCKET_DIR}/{iface}.sock"));
            let _ = std::fs::remove_file(format!("{WG_SOCKET_DIR}/{iface}.log"));
        }
    }
}
