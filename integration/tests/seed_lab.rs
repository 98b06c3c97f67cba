//! The seed lab of the blog post with wgbgpd on S1, S2 and S3 instead of
//! FRR and hand-made tunnels: the product's first acceptance test.
//!
//! ```text
//!        lo 1.1.1.1, fd00::1                      lo 2.2.2.2, fd00::2
//!        +------+   wg (S1-S2)  over R1           +------+ announces 198.19.0.1/32,
//!        |  S1  |=================================|  S2  |           2001:db8:2::/48
//!        |      |   eth1 10.1.0.2   10.2.0.2 eth1 +------+
//!        |      |         \        /
//!        |      |          +-- R1 --+
//!        |      |                   \              lo 3.3.3.3
//!        |      |=================================+------+ announces 198.18.0.1/32
//!        +------+   wg (S1-S3)        10.3.0.2 eth1|  S3  |
//!                                                  +------+
//! ```
//!
//! wgbgpd on each node creates the per-peer wireguard-go interfaces (no
//! address, AllowedIPs 0/0 and ::/0), the loopbacks and the host routes to
//! the peers' loopbacks, peers eBGP loopback to loopback, and installs the
//! learned routes recursively resolved: `via 2.2.2.2 dev wg.. onlink`.

use std::time::{Duration, Instant};

use integration::{Netns, SeedLab, TempDir, WgKey, Wgbgpd, ifname, require_root, wait_for};

const SESSION_TIMEOUT: Duration = Duration::from_secs(40);

struct Keys {
    s1: WgKey,
    s2: WgKey,
    s3: WgKey,
}

struct Ifs {
    s1_to_s2: String,
    s1_to_s3: String,
    s2_to_s1: String,
    s3_to_s1: String,
}

impl Keys {
    fn generate() -> Keys {
        Keys {
            s1: WgKey::generate(),
            s2: WgKey::generate(),
            s3: WgKey::generate(),
        }
    }
}

impl Ifs {
    /// Interface names tagged `T1s2`, `T1s3`, `T2s1`, `T3s1`.
    fn new(tag: &str) -> Ifs {
        let name = |end: &str| ifname(&format!("{tag}{end}"));
        Ifs {
            s1_to_s2: name("1s2"),
            s1_to_s3: name("1s3"),
            s2_to_s1: name("2s1"),
            s3_to_s1: name("3s1"),
        }
    }
}

const POLICIES: &str = r#"
policies:
  accept-all:
    - action: accept
  local-only:
    - match: { prefix: ["198.18.0.0/15 le 32", "2001:db8::/32 le 128"] }
      action: accept
    - action: reject
"#;

fn s1_config(k: &Keys, i: &Ifs) -> String {
    format!(
        r#"router_id: 1.1.1.1
asn: 65500
loopback: [1.1.1.1/32, "fd00::1/128"]
wireguard:
  private_key_file: "@KEY@"
  backend: userspace
peers:
  s2:
    asn: 65501
    address: [2.2.2.2, "fd00::2"]
    description: S2
    wireguard:
      public_key: {s2}
      endpoint: 10.2.0.2:51820
      interface: {if2}
      persistent_keepalive: 5
    import: [accept-all]
    export: [local-only]
  s3:
    asn: 65502
    address: 3.3.3.3
    description: S3
    wireguard:
      public_key: {s3}
      endpoint: 10.3.0.2:51820
      interface: {if3}
      persistent_keepalive: 5
    import: [accept-all]
    export: [local-only]
{POLICIES}"#,
        s2 = k.s2.public,
        s3 = k.s3.public,
        if2 = i.s1_to_s2,
        if3 = i.s1_to_s3,
    )
}

fn leaf_config(
    id: &str,
    asn: u32,
    loopback: &str,
    announce: &str,
    s1_addresses: &str,
    s1_public: &str,
    interface: &str,
) -> String {
    format!(
        r#"router_id: {id}
asn: {asn}
loopback: {loopback}
announce: {announce}
wireguard:
  private_key_file: "@KEY@"
peers:
  s1:
    asn: 65500
    address: {s1_addresses}
    wireguard:
      public_key: {s1_public}
      interface: {interface}
      listen_port: 51820
    import: [accept-all]
    export: [local-only]
{POLICIES}"#
    )
}

/// S2 (dual-stack, announcing 198.19.0.1/32 and 2001:db8:2::/48) and S3
/// (IPv4, announcing 198.18.0.1/32), as in the post.
fn leaf_configs(keys: &Keys, ifs: &Ifs) -> (String, String) {
    let s2 = leaf_config(
        "2.2.2.2",
        65501,
        r#"[2.2.2.2/32, "fd00::2/128"]"#,
        r#"[198.19.0.1/32, "2001:db8:2::/48"]"#,
        r#"[1.1.1.1, "fd00::1"]"#,
        &keys.s1.public,
        &ifs.s2_to_s1,
    );
    let s3 = leaf_config(
        "3.3.3.3",
        65502,
        "[3.3.3.3/32]",
        "[198.18.0.1/32]",
        "1.1.1.1",
        &keys.s1.public,
        &ifs.s3_to_s1,
    );
    (s2, s3)
}

/// Starts wgbgpd with `key` as its WireGuard private key (mode 0600, as
/// wgbgpd requires).
fn with_key(ns: &Netns, keys: &TempDir, yaml: &str, key: &WgKey) -> Wgbgpd {
    let mut d = spawn_with_key(ns, keys, yaml, key);
    d.wait_ready(ns, Duration::from_secs(10));
    d
}

/// [`with_key`] without waiting for the control socket.
fn spawn_with_key(ns: &Netns, keys: &TempDir, yaml: &str, key: &WgKey) -> Wgbgpd {
    use std::os::unix::fs::PermissionsExt;
    let path = keys.write(&format!("{}.key", ns.name()), &format!("{}\n", key.private));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    Wgbgpd::spawn(ns, &yaml.replace(KEY_TOKEN, &path.display().to_string()))
}

/// The seed lab, fresh WireGuard keys and interface names tagged `tag`.
fn fresh_lab(tag: &str) -> (SeedLab, Keys, Ifs) {
    (SeedLab::new(), Keys::generate(), Ifs::new(tag))
}

/// Stands for the private key file's path in the configs below.
const KEY_TOKEN: &str = "@KEY@";

#[test]
fn seed_lab_routes_pings_withdraws_and_restarts_cleanly() {
    require_root();
    let (lab, keys, ifs) = fresh_lab("s");
    // The announced addresses live on the leaves (the post used dummy0).
    lab.s2.add_lo_addr("198.19.0.1/32");
    lab.s2.add_lo_addr("2001:db8:2::1/128");
    lab.s3.add_lo_addr("198.18.0.1/32");

    let (s2_yaml, s3_yaml) = leaf_configs(&keys, &ifs);
    let key_dir = TempDir::new("keys");
    let mut s2 = with_key(&lab.s2, &key_dir, &s2_yaml, &keys.s2);
    let mut s3 = with_key(&lab.s3, &key_dir, &s3_yaml, &keys.s3);
    let mut s1 = with_key(&lab.s1, &key_dir, &s1_config(&keys, &ifs), &keys.s1);

    s1.wait_established(&lab.s1, "2.2.2.2", SESSION_TIMEOUT);
    s1.wait_established(&lab.s1, "3.3.3.3", SESSION_TIMEOUT);

    // The tunnels wgbgpd made: unnumbered, AllowedIPs everything, host routes.
    let addrs = lab
        .s1
        .stdout(&["ip", "-o", "addr", "show", "dev", &ifs.s1_to_s2]);
    assert!(
        addrs.trim().is_empty(),
        "the wg interface must have no address: {addrs}"
    );
    let allowed = lab.s1.stdout(&["wg", "show", &ifs.s1_to_s2, "allowed-ips"]);
    assert!(
        allowed.contains("0.0.0.0/0") && allowed.contains("::/0"),
        "AllowedIPs: {allowed}"
    );
    let host = lab.s1.route("2.2.2.2/32").unwrap();
    assert!(host.contains(&format!("dev {}", ifs.s1_to_s2)), "{host}");
    let lo = lab.s1.stdout(&["ip", "-o", "addr", "show", "dev", "lo"]);
    assert!(
        lo.contains("1.1.1.1/32") && lo.contains("fd00::1/128"),
        "{lo}"
    );

    // The acceptance routes, exactly as the issue states them.
    let want_s3 = format!(
        "198.18.0.1 via 3.3.3.3 dev {} proto bgp metric 20 onlink",
        ifs.s1_to_s3
    );
    let want_s2 = format!(
        "198.19.0.1 via 2.2.2.2 dev {} proto bgp metric 20 onlink",
        ifs.s1_to_s2
    );
    let want_v6 = format!(
        "2001:db8:2::/48 via fd00::2 dev {} proto bgp metric 20 onlink",
        ifs.s1_to_s2
    );
    for (prefix, want) in [
        ("198.18.0.1/32", &want_s3),
        ("198.19.0.1/32", &want_s2),
        ("2001:db8:2::/48", &want_v6),
    ] {
        wait_for(SESSION_TIMEOUT, Duration::from_millis(200), want, || {
            lab.s1.route(prefix).and_then(|l| {
                if l.starts_with(want.as_str()) {
                    Ok(())
                } else {
                    Err(format!("got `{l}`"))
                }
            })
        });
    }
    lab.s1.wait_ping("198.18.0.1", Duration::from_secs(10));
    lab.s1.wait_ping("198.19.0.1", Duration::from_secs(10));
    lab.s1.wait_ping("2001:db8:2::1", Duration::from_secs(10));

    // FRR-compatible JSON: both peers Established, one IPv4 prefix each.
    let summary = s1.cli_json(&lab.s1, &["show", "bgp", "summary"]);
    for peer in ["2.2.2.2", "3.3.3.3"] {
        let p = &summary["ipv4Unicast"]["peers"][peer];
        assert_eq!(p["state"], "Established", "{summary:#}");
        assert_eq!(p["pfxRcd"], 1, "{summary:#}");
        assert!(p["peerUptimeMsec"].as_u64().is_some(), "{summary:#}");
    }
    assert_eq!(
        summary["ipv4Unicast"]["peers"]["2.2.2.2"]["remoteAs"],
        65501
    );
    assert_eq!(
        summary["ipv6Unicast"]["peers"]["2.2.2.2"]["pfxRcd"], 1,
        "{summary:#}"
    );
    let routes = s1.cli_json(&lab.s1, &["show", "bgp", "ipv4", "unicast"]);
    let r = &routes["routes"]["198.19.0.1/32"][0];
    assert_eq!(r["valid"], true, "{routes:#}");
    assert_eq!(r["bestpath"], true, "{routes:#}");
    assert_eq!(r["path"], "65501", "{routes:#}");
    assert_eq!(r["nexthops"][0]["ip"], "2.2.2.2", "{routes:#}");
    // S1 passes S3's prefix on to S2 (its export policy admits 198.18.0.0/15):
    // next hop self, own AS prepended, resolved through S2's tunnel to S1.
    let s2_routes = s2.cli_json(&lab.s2, &["show", "bgp", "ipv4", "unicast"]);
    let transit = &s2_routes["routes"]["198.18.0.1/32"][0];
    assert_eq!(transit["path"], "65500 65502", "{s2_routes:#}");
    assert_eq!(transit["nexthops"][0]["ip"], "1.1.1.1", "{s2_routes:#}");
    let want_transit = format!(
        "198.18.0.1 via 1.1.1.1 dev {} proto bgp metric 20 onlink",
        ifs.s2_to_s1
    );
    assert!(
        lab.s2
            .route("198.18.0.1/32")
            .unwrap()
            .starts_with(&want_transit)
    );

    // Withdraw: S2's daemon stops, its route leaves S1's kernel.
    s2.stop();
    wait_for(
        Duration::from_secs(10),
        Duration::from_millis(100),
        "S2's route withdrawn",
        || {
            lab.s1
                .no_route("198.19.0.1/32")
                .and(lab.s1.no_route("2001:db8:2::/48"))
        },
    );
    assert!(
        lab.s1.route("198.18.0.1/32").is_ok(),
        "S3's route must stay"
    );
    // S2 removed what it installed and created.
    assert_eq!(
        lab.s2.routes("proto bgp").trim(),
        "",
        "S2 left routes behind"
    );
    let links = lab.s2.stdout(&["ip", "-o", "link", "show"]);
    assert!(
        !links.contains(&ifs.s2_to_s1),
        "S2 left its tunnel behind: {links}"
    );

    // Restarting S1: no duplicate or stale routes; the table converges again.
    s1.restart(&lab.s1);
    s1.wait_established(&lab.s1, "3.3.3.3", SESSION_TIMEOUT);
    lab.s1.wait_route("198.18.0.1/32", "", SESSION_TIMEOUT);
    let bgp = lab.s1.routes("proto bgp");
    assert_eq!(bgp.lines().count(), 1, "exactly S3's route, once:\n{bgp}");
    assert!(
        lab.s1.route("198.18.0.1/32").unwrap().starts_with(&want_s3),
        "{bgp}"
    );

    // S2 comes back and its routes return.
    s2.restart(&lab.s2);
    s1.wait_established(&lab.s1, "2.2.2.2", SESSION_TIMEOUT);
    lab.s1.wait_route("198.19.0.1/32", "", SESSION_TIMEOUT);
    lab.s1.wait_ping("198.19.0.1", Duration::from_secs(10));
    s3.check_alive();
}

/// S2 and S3 both announce 203.0.113.0/24 (anycast); S1 with `multipath: 2`
/// and `multipath_relax` installs one ECMP route through both tunnels, and
/// falls back to a single next hop when S3 leaves.
#[test]
fn seed_lab_multipath_installs_one_ecmp_route_over_both_tunnels() {
    require_root();
    let (lab, keys, ifs) = fresh_lab("m");
    lab.s2.add_lo_addr("203.0.113.1/32");
    lab.s3.add_lo_addr("203.0.113.1/32");
    let anycast = "[203.0.113.0/24]";
    let s2_yaml = leaf_config(
        "2.2.2.2",
        65501,
        "[2.2.2.2/32]",
        anycast,
        "1.1.1.1",
        &keys.s1.public,
        &ifs.s2_to_s1,
    )
    .replace("198.18.0.0/15 le 32", "203.0.113.0/24");
    let s3_yaml = leaf_config(
        "3.3.3.3",
        65502,
        "[3.3.3.3/32]",
        anycast,
        "1.1.1.1",
        &keys.s1.public,
        &ifs.s3_to_s1,
    )
    .replace("198.18.0.0/15 le 32", "203.0.113.0/24");
    let s1_yaml = s1_config(&keys, &ifs)
        .replace(
            "asn: 65500\n",
            "asn: 65500\nmultipath: 2\nmultipath_relax: true\n",
        )
        .replace(r#"address: [2.2.2.2, "fd00::2"]"#, "address: 2.2.2.2")
        .replace(
            r#"loopback: [1.1.1.1/32, "fd00::1/128"]"#,
            "loopback: [1.1.1.1/32]",
        );
    let key_dir = TempDir::new("keys");
    let _s2 = with_key(&lab.s2, &key_dir, &s2_yaml, &keys.s2);
    let mut s3 = with_key(&lab.s3, &key_dir, &s3_yaml, &keys.s3);
    let mut s1 = with_key(&lab.s1, &key_dir, &s1_yaml, &keys.s1);
    s1.wait_established(&lab.s1, "2.2.2.2", SESSION_TIMEOUT);
    s1.wait_established(&lab.s1, "3.3.3.3", SESSION_TIMEOUT);
    let hop2 = format!("nexthop via 2.2.2.2 dev {} weight 1 onlink", ifs.s1_to_s2);
    let hop3 = format!("nexthop via 3.3.3.3 dev {} weight 1 onlink", ifs.s1_to_s3);
    wait_for(
        SESSION_TIMEOUT,
        Duration::from_millis(200),
        "ECMP route via S2 and S3",
        || {
            lab.s1.route("203.0.113.0/24").and_then(|r| {
                if r.contains(&hop2) && r.contains(&hop3) && r.contains("proto bgp metric 20") {
                    Ok(())
                } else {
                    Err(format!("got `{r}`"))
                }
            })
        },
    );
    let routes = s1.cli_json(&lab.s1, &["show", "bgp", "ipv4", "unicast"]);
    let paths = routes["routes"]["203.0.113.0/24"].as_array().unwrap();
    assert_eq!(
        paths.iter().filter(|p| p["multipath"] == true).count(),
        2,
        "{routes:#}"
    );
    lab.s1.wait_ping("203.0.113.1", Duration::from_secs(10));

    s3.stop();
    let single = format!(
        "203.0.113.0/24 via 2.2.2.2 dev {} proto bgp metric 20 onlink",
        ifs.s1_to_s2
    );
    wait_for(
        SESSION_TIMEOUT,
        Duration::from_millis(200),
        "single next hop after S3 left",
        || {
            lab.s1.route("203.0.113.0/24").and_then(|r| {
                if r.starts_with(&single) {
                    Ok(())
                } else {
                    Err(format!("got `{r}`"))
                }
            })
        },
    );
}

/// Issue 14: sessions are up the moment the tunnels are. Thirty fresh seed
/// labs, the three daemons started together: every session is Established
/// on both ends within 2 s of the last start (the distribution is
/// printed). In the last lab S1's tunnel to S2 flaps for 3 s; the session
/// is up again within 2 s of the link's return.
#[test]
fn every_session_is_up_within_2s_of_the_last_start_in_30_labs() {
    require_root();
    const RUNS: usize = 30;
    const BOUND: Duration = Duration::from_secs(2);
    let mut took = Vec::new();
    for run in 0..RUNS {
        let (lab, keys, ifs) = fresh_lab("u");
        let (s2_yaml, s3_yaml) = leaf_configs(&keys, &ifs);
        let key_dir = TempDir::new("keys");
        let mut s2 = spawn_with_key(&lab.s2, &key_dir, &s2_yaml, &keys.s2);
        let mut s3 = spawn_with_key(&lab.s3, &key_dir, &s3_yaml, &keys.s3);
        let mut s1 = spawn_with_key(&lab.s1, &key_dir, &s1_config(&keys, &ifs), &keys.s1);
        let started = Instant::now();
        let all_up = |s1: &mut Wgbgpd, s2: &mut Wgbgpd, s3: &mut Wgbgpd| {
            for d in [&mut *s1, &mut *s2, &mut *s3] {
                d.check_alive();
                if !d.socket().exists() {
                    return Err(format!("{} not answering yet", d.socket().display()));
                }
            }
            for (d, ns, addr) in [
                (&*s1, &lab.s1, "2.2.2.2"),
                (&*s1, &lab.s1, "3.3.3.3"),
                (&*s2, &lab.s2, "1.1.1.1"),
                (&*s3, &lab.s3, "1.1.1.1"),
            ] {
                let state = d.peer_state(ns, addr);
                if state.as_deref() != Some("Established") {
                    return Err(format!("{} -> {addr}: {state:?}", ns.name()));
                }
            }
            Ok(())
        };
        wait_for(
            Duration::from_secs(20),
            Duration::from_millis(20),
            "every session Established",
            || all_up(&mut s1, &mut s2, &mut s3),
        );
        took.push(started.elapsed());

        if run == RUNS - 1 {
            lab.s1.exec(&["ip", "link", "set", &ifs.s1_to_s2, "down"]);
            std::thread::sleep(Duration::from_secs(3));
            lab.s1.exec(&["ip", "link", "set", &ifs.s1_to_s2, "up"]);
            let back = Instant::now();
            wait_for(
                BOUND,
                Duration::from_millis(20),
                "sessions after the flap",
                || {
                    all_up(&mut s1, &mut s2, &mut s3)?;
                    lab.s1.route("198.19.0.1").map(|_| ())
                },
            );
            eprintln!(
                "after a 3 s flap of {}: up and routed in {:?}",
                ifs.s1_to_s2,
                back.elapsed()
            );

            // S3's tunnel flaps: S3's IPv4 prefix is re-selected (down and
            // up), S2's IPv6 one, on the other tunnel, is not touched.
            let versions = |s1: &Wgbgpd| {
                let summary = s1.cli_json(&lab.s1, &["show", "bgp", "summary"]);
                let v = |afi: &str| summary[afi]["tableVersion"].as_u64();
                (v("ipv4Unicast").unwrap(), v("ipv6Unicast").unwrap())
            };
            // Once S2's flap has settled (its IPv6 route back, the
            // versions still).
            lab.s1
                .wait_route("2001:db8:2::/48", "proto bgp", Duration::from_secs(10));
            let mut last = versions(&s1);
            wait_for(
                Duration::from_secs(10),
                Duration::from_millis(500),
                "a settled RIB",
                || {
                    let now = versions(&s1);
                    let settled = now == last;
                    last = now;
                    if settled {
                        Ok(())
                    } else {
                        Err(format!("{now:?}"))
                    }
                },
            );
            let (v4, v6) = last;
            lab.s1.exec(&["ip", "link", "set", &ifs.s1_to_s3, "down"]);
            wait_for(
                Duration::from_secs(5),
                Duration::from_millis(20),
                "S3's route gone",
                || lab.s1.no_route("198.18.0.1"),
            );
            std::thread::sleep(Duration::from_secs(1));
            lab.s1.exec(&["ip", "link", "set", &ifs.s1_to_s3, "up"]);
            wait_for(BOUND, Duration::from_millis(20), "S3's route back", || {
                all_up(&mut s1, &mut s2, &mut s3)?;
                lab.s1.route("198.18.0.1").map(|_| ())
            });
            let (v4_after, v6_after) = versions(&s1);
            eprintln!(
                "table versions across S3's flap: IPv4 {v4} -> {v4_after}, IPv6 {v6} -> {v6_after}"
            );
            assert!(v4_after > v4, "S3's prefix was re-selected");
            assert_eq!(v6_after, v6, "nothing on S2's tunnel was touched");
        }
    }
    took.sort();
    let ms: Vec<u128> = took.iter().map(|d| d.as_millis()).collect();
    eprintln!(
        "all sessions Established after the last start, {RUNS} labs (ms): min {} median {} p90 {} max {}; all: {ms:?}",
        ms[0],
        ms[RUNS / 2],
        ms[RUNS * 9 / 10],
        ms[RUNS - 1]
    );
    assert!(
        took[RUNS - 1] <= BOUND,
        "slowest start {:?}: {ms:?}",
        took[RUNS - 1]
    );
}
