//! FRR (zebra + bgpd) running inside a namespace, as a real peer and as the
//! reference behaviour wgbgpd is compared with.
//!
//! Each instance keeps its sockets, pid files, configs and logs in its own
//! temporary directory (`-z`, `-i`, `--vty_socket`), so several instances run
//! side by side without touching /var/run/frr or /etc/frr. zebra drops to the
//! `frr` user as packaged; bgpd runs as root with `-S` (FRR refuses `-u root`
//! unless root is in the `frrvty` group, which a test must not change).

use std::process::Stdio;
use std::time::Duration;

use crate::daemon::control_client;
use crate::netns::{ChildGuard, Netns, run_host};
use crate::tempdir::TempDir;

/// Where the Debian package installs the daemons.
pub const FRR_LIBEXEC: &str = "/usr/lib/frr";

/// One eBGP edge router in FRR, loopback to loopback over an unnumbered
/// tunnel (`update-source` + `disable-connected-check`): it announces
/// `networks` (IPv4 and IPv6 alike), takes everything in, and over its IPv4
/// session gives `v6_next_hop` as the IPv6 next hop (FRR would otherwise
/// send an IPv4-mapped one).
#[derive(Debug, Clone, Copy)]
pub struct EdgeConfig<'a> {
    pub hostname: &'a str,
    pub asn: u32,
    pub router_id: &'a str,
    pub peer: &'a str,
    pub peer_asn: u32,
    pub networks: &'a [&'a str],
    pub v6_next_hop: &'a str,
}

impl<'a> EdgeConfig<'a> {
    /// B of the two-node labs ([`crate::HandTunnel`]): AS 65501, router ID
    /// 2.2.2.2, peering with wgbgpd at 1.1.1.1 in AS 65500, IPv6 next hop
    /// fd00::2, announcing `networks`.
    pub fn b(networks: &'a [&'a str]) -> EdgeConfig<'a> {
        EdgeConfig {
            hostname: "b",
            asn: 65501,
            router_id: "2.2.2.2",
            peer: "1.1.1.1",
            peer_asn: 65500,
            networks,
            v6_next_hop: "fd00::2",
        }
    }

    /// The bgpd.conf text.
    pub fn bgpd_conf(&self) -> String {
        let EdgeConfig {
            hostname,
            asn,
            router_id,
            peer,
            peer_asn,
            v6_next_hop,
            ..
        } = *self;
        let networks = |v6: bool| -> String {
            self.networks
                .iter()
                .filter(|n| n.contains(':') == v6)
                .map(|n| format!("  network {n}\n"))
                .collect()
        };
        let (v4, v6) = (networks(false), networks(true));
        format!(
            "frr defaults traditional
hostname {hostname}
log stdout informational
router bgp {asn}
 bgp router-id {router_id}
 no bgp network import-check
 neighbor {peer} remote-as {peer_asn}
 neighbor {peer} update-source {router_id}
 neighbor {peer} disable-connected-check
 neighbor {peer} timers connect 5
 !
 address-family ipv4 unicast
{v4}  neighbor {peer} route-map ALLOW-ALL in
  neighbor {peer} route-map ALLOW-ALL out
 exit-address-family
 !
 address-family ipv6 unicast
{v6}  neighbor {peer} activate
  neighbor {peer} route-map ALLOW-ALL in
  neighbor {peer} route-map V6-NEXT-HOP out
 exit-address-family
!
route-map ALLOW-ALL permit 100
!
route-map V6-NEXT-HOP permit 100
 set ipv6 next-hop global {v6_next_hop}
!
"
        )
    }
}

/// The seed post's S2/S3 bgpd.conf (AS `asn`, loopback `me`, peering with
/// S1 at 1.1.1.1 in AS 65500): redistribute connected, but announce only
/// `prefix`; plus `timers connect 5` so tests do not wait FRR's 120 s.
pub fn seed_spoke_conf(asn: u32, me: &str, prefix: &str) -> String {
    format!(
        "frr defaults traditional
hostname spoke{asn}
log stdout informational
router bgp {asn}
 bgp router-id {me}
 neighbor 1.1.1.1 remote-as 65500
 neighbor 1.1.1.1 description S1
 neighbor 1.1.1.1 disable-connected-check
 neighbor 1.1.1.1 update-source {me}
 neighbor 1.1.1.1 timers connect 5
 !
 address-family ipv4 unicast
  redistribute connected
  neighbor 1.1.1.1 route-map ALLOW-ALL in
  neighbor 1.1.1.1 route-map BGP-OUT out
 exit-address-family
!
ip prefix-list DUMMY0 seq 5 permit {prefix}
!
route-map BGP-OUT permit 100
 match ip address prefix-list DUMMY0
!
route-map ALLOW-ALL permit 100
!
"
    )
}

/// bfdd.conf for multihop BFD sessions (RFC 5883) from `local` to each of
/// `peers`, every `interval_ms` × `multiplier`: the sessions bgpd's
/// `neighbor X bfd` then uses.
pub fn bfdd_multihop_conf(local: &str, peers: &[&str], interval_ms: u32, multiplier: u8) -> String {
    let mut out = String::from("frr defaults traditional\nlog stdout informational\nbfd\n");
    for p in peers {
        out.push_str(&format!(
            " peer {p} multihop local-address {local}\n  receive-interval {interval_ms}\n  transmit-interval {interval_ms}\n  detect-multiplier {multiplier}\n !\n"
        ));
    }
    out.push_str("!\n");
    out
}

/// zebra and bgpd (and bfdd when asked) in one namespace; all killed
/// (SIGTERM) on drop.
pub struct Frr {
    // Field order is drop order: bgpd, bfdd, zebra, then the directory.
    bgpd: Option<ChildGuard>,
    bfdd: Option<ChildGuard>,
    zebra: Option<ChildGuard>,
    dir: TempDir,
    ns: String,
}

impl Frr {
    /// Starts zebra with `zebra_conf`, then bgpd with `bgpd_conf`, in `ns`, and
    /// waits until vtysh reaches both. Panics with their logs if either exits.
    pub fn start(ns: &Netns, bgpd_conf: &str, zebra_conf: &str) -> Frr {
        Frr::start_with(ns, bgpd_conf, zebra_conf, &[])
    }

    /// [`Frr::start`] with extra zebra arguments, e.g. `-s 90000000` (the
    /// netlink receive buffer Debian's unit gives zebra, which a full table needs).
    pub fn start_with(ns: &Netns, bgpd_conf: &str, zebra_conf: &str, zebra_args: &[&str]) -> Frr {
        Frr::start_full(ns, bgpd_conf, zebra_conf, zebra_args, None)
    }

    /// [`Frr::start`] plus bfdd with `bfdd_conf` (see [`bfdd_multihop_conf`]),
    /// started between zebra and bgpd so bgpd's BFD registrations find it.
    pub fn start_with_bfdd(ns: &Netns, bgpd_conf: &str, zebra_conf: &str, bfdd_conf: &str) -> Frr {
        Frr::start_full(ns, bgpd_conf, zebra_conf, &[], Some(bfdd_conf))
    }

    fn start_full(
        ns: &Netns,
        bgpd_conf: &str,
        zebra_conf: &str,
        zebra_args: &[&str],
        bfdd_conf: Option<&str>,
    ) -> Frr {
        let zebra_bin = format!("{FRR_LIBEXEC}/zebra");
        crate::require_tool(&zebra_bin, "frr");
        crate::require_tool("vtysh", "frr");
        let dir = TempDir::new("frr");
        dir.write("zebra.conf", zebra_conf);
        dir.write("bgpd.conf", bgpd_conf);
        if let Some(c) = bfdd_conf {
            dir.write("bfdd.conf", c);
        }
        let d = dir.path().to_string_lossy().into_owned();
        // zebra runs as `frr` and creates its sockets here.
        run_host(&["chown", "-R", "frr:frr", &d]);

        let mut frr = Frr {
            bgpd: None,
            bfdd: None,
            zebra: None,
            ns: ns.name().to_string(),
            dir,
        };
        let mut user = vec!["-u", "frr", "-g", "frr"];
        user.extend_from_slice(zebra_args);
        let zebra = frr.spawn_daemon(ns, &zebra_bin, "zebra", &user);
        frr.zebra = Some(zebra);
        frr.wait_socket("zebra", "zserv.api");
        if bfdd_conf.is_some() {
            let bfdctl = frr.dir.join("bfdd.sock").display().to_string();
            let bfdd_bin = format!("{FRR_LIBEXEC}/bfdd");
            let bfdd = frr.spawn_daemon(
                ns,
                &bfdd_bin,
                "bfdd",
                &["-u", "frr", "-g", "frr", "--bfdctl", &bfdctl],
            );
            frr.bfdd = Some(bfdd);
            frr.wait_socket("bfdd", "bfdd.vty");
        }
        frr.start_bgpd(ns);
        frr
    }

    fn spawn_daemon(&self, ns: &Netns, bin: &str, name: &str, user: &[&str]) -> ChildGuard {
        let d = self.dir.path().to_string_lossy().into_owned();
        let mut args: Vec<String> = vec![
            bin.into(),
            "-f".into(),
            format!("{d}/{name}.conf"),
            "-z".into(),
            format!("{d}/zserv.api"),
            "-i".into(),
            format!("{d}/{name}.pid"),
            "--vty_socket".into(),
            d.clone(),
            // No TCP vty: the namespace has nothing to do with it.
            "-P".into(),
            "0".into(),
            "--log".into(),
            "stdout".into(),
        ];
        args.extend(user.iter().map(|s| s.to_string()));
        // Appended to: a restarted bgpd keeps the log of the first run.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(&format!("{name}.log")))
            .expect("create log");
        let mut cmd = ns.command(&args);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        ns.spawn(cmd)
    }

    fn wait_socket(&mut self, daemon: &str, file: &str) {
        let path = self.dir.join(file);
        crate::wait_for(
            Duration::from_secs(10),
            Duration::from_millis(20),
            &format!("{daemon} to create {}", path.display()),
            || {
                self.check_alive();
                if path.exists() {
                    Ok(())
                } else {
                    Err("not yet".into())
                }
            },
        );
    }

    /// Panics (the logs are printed on the way out) if zebra or bgpd has exited.
    pub fn check_alive(&mut self) {
        for (name, child) in [
            ("zebra", &mut self.zebra),
            ("bfdd", &mut self.bfdd),
            ("bgpd", &mut self.bgpd),
        ] {
            if let Some(c) = child.as_mut()
                && let Some(st) = c.try_wait()
            {
                panic!("FRR {name} in netns {} exited: {st}", self.ns);
            }
        }
    }

    /// Runs `vtysh -c CMD` against this instance; returns stdout or the error text.
    pub fn try_vtysh(&self, cmd: &str) -> Result<String, String> {
        let d = self.dir.path().to_string_lossy().into_owned();
        let mut vtysh = std::process::Command::new("vtysh");
        vtysh.args(["--vty_socket", &d, "-c", cmd]);
        control_client(vtysh, &format!("vtysh -c {cmd:?}"), |out, _| {
            out.status.success()
        })
    }

    /// Runs `vtysh -c CMD`; panics if vtysh fails.
    pub fn vtysh(&self, cmd: &str) -> String {
        self.try_vtysh(cmd)
            .unwrap_or_else(|e| panic!("FRR in netns {}: {e}", self.ns))
    }

    /// Runs a `... json` command and parses its output.
    pub fn vtysh_json(&self, cmd: &str) -> serde_json::Value {
        let text = self.vtysh(cmd);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("vtysh -c {cmd:?} gave no JSON ({e}):\n{text}"))
    }

    /// The BGP state of neighbor `addr` (`"Established"`, `"Active"`, ...), from
    /// `show bgp neighbors ADDR json`; `None` if bgpd does not know it.
    pub fn neighbor_state(&self, addr: &str) -> Option<String> {
        let v = self.vtysh_json(&format!("show bgp neighbors {addr} json"));
        v.get(addr)?
            .get("bgpState")?
            .as_str()
            .map(|s| s.to_string())
    }

    /// Waits until neighbor `addr` is Established, panicking with the
    /// neighbor's details otherwise.
    pub fn wait_established(&mut self, addr: &str, timeout: Duration) {
        crate::wait_for(
            timeout,
            Duration::from_millis(250),
            &format!("FRR in netns {} to reach Established with {addr}", self.ns),
            || {
                self.check_alive();
                match self.neighbor_state(addr) {
                    Some(s) if s == "Established" => Ok(()),
                    other => Err(format!(
                        "state {other:?}\n{}",
                        self.try_vtysh(&format!("show bgp neighbors {addr}"))
                            .unwrap_or_else(|e| e)
                    )),
                }
            },
        );
    }

    /// Kills bgpd with SIGKILL (zebra stays): no NOTIFICATION, no clean
    /// TCP close beyond what the kernel does for a dead process, as in a
    /// crash. Graceful Restart tests start it again with [`Frr::start_bgpd`].
    pub fn kill_bgpd(&mut self) {
        if let Some(mut c) = self.bgpd.take() {
            c.signal(9);
            c.stop(Duration::from_secs(3));
        }
        // A killed bgpd leaves its vty socket and pid file behind.
        let _ = std::fs::remove_file(self.dir.join("bgpd.vty"));
        let _ = std::fs::remove_file(self.dir.join("bgpd.pid"));
    }

    /// Starts bgpd with its config (again, after [`Frr::kill_bgpd`]) and
    /// waits until vtysh reaches it.
    pub fn start_bgpd(&mut self, ns: &Netns) {
        assert!(self.bgpd.is_none(), "bgpd in {} is running", self.ns);
        let bgpd_bin = format!("{FRR_LIBEXEC}/bgpd");
        let bgpd = self.spawn_daemon(ns, &bgpd_bin, "bgpd", &["-S"]);
        self.bgpd = Some(bgpd);
        self.wait_socket("bgpd", "bgpd.vty");
        crate::wait_for(
            Duration::from_secs(10),
            Duration::from_millis(100),
            "vtysh to reach zebra and bgpd",
            || {
                self.check_alive();
                self.try_vtysh("show bgp summary json").map(|_| ())
            },
        );
    }

    /// The instance's directory (configs, sockets, logs).
    pub fn dir(&self) -> &TempDir {
        &self.dir
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        crate::dump_on_panic(
            &format!("FRR bgpd in {}", self.ns),
            &self.dir.join("bgpd.log"),
            200,
        );
        crate::dump_on_panic(
            &format!("FRR zebra in {}", self.ns),
            &self.dir.join("zebra.log"),
            200,
        );
        if self.bfdd.is_some() {
            crate::dump_on_panic(
                &format!("FRR bfdd in {}", self.ns),
                &self.dir.join("bfdd.log"),
                100,
            );
        }
        // bgpd first, so zebra still withdraws what bgpd installed.
        if let Some(mut c) = self.bgpd.take() {
            c.stop(Duration::from_secs(3));
        }
        if let Some(mut c) = self.bfdd.take() {
            c.stop(Duration::from_secs(3));
        }
        if let Some(mut c) = self.zebra.take() {
            c.stop(Duration::from_secs(3));
        }
    }
}
