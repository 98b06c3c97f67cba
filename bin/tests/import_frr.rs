//! `wgbgp import frr` and `wgbgp peer-config`: the seed post's FRR and
//! wg-quick configs (bin/tests/data/frr/, each file says where it comes
//! from) translated, validated with `Config::from_str`, and checked for
//! meaning: peers, tunnels, and what each policy chain accepts, evaluated
//! with the RIB's own policy code.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use ipnet::IpNet;
use rib::policy::{Chain, Policy};
use wgbgp::config::{Config, Endpoint, PeerAs};
use wgbgp::import_frr::{self, Translation, WgFile};
use wireguard_control::Key;

mod common;
use common::{data, text, wgbgp};

const S1_PRIVATE: &str = "0G/YfiSxtaUpSGQ5GMLpcNQGwQIMDSPkPN4tMVjwjHI=";
const S1_PUBLIC: &str = "G3D758Mb0jyo9H9MnTeDO6Hnh/mqHju3R3Cols4P+jo=";
const S2_PUBLIC: &str = "HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=";
const S3_PUBLIC: &str = "Mi87VBithUnR8zI9cWqgMaYeK4PaNvA4tG3h4GLjLh8=";

/// Imports `bgpd` with the wg-quick files `wg`, each `FILE` or
/// `NEIGHBOR=FILE` as on the command line (files relative to the data).
fn import(bgpd: &str, wg: &[&str], key_file: Option<&Path>) -> (Translation, Config) {
    let text = std::fs::read_to_string(data(bgpd)).unwrap();
    let files: Vec<WgFile> = wg
        .iter()
        .map(|w| match w.split_once('=') {
            Some((n, f)) => WgFile {
                neighbor: Some(n.parse().unwrap()),
                ..WgFile::read(&data(f)).unwrap()
            },
            None => WgFile::read(&data(w)).unwrap(),
        })
        .collect();
    import_text(bgpd, &text, &files, key_file)
}

fn import_text(
    origin: &str,
    text: &str,
    files: &[WgFile],
    key_file: Option<&Path>,
) -> (Translation, Config) {
    let t = import_frr::translate(origin, text, files, key_file).unwrap();
    let config = Config::from_str(&t.yaml, "imported.yaml")
        .unwrap_or_else(|e| panic!("{e}\n---\n{}", t.yaml));
    (t, config)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Whether the named chain accepts `prefix`, by the RIB's evaluation.
fn accepts(config: &Config, names: &[String], prefix: &str) -> bool {
    chain(config, names).accepts(&net(prefix))
}

/// The named policies of `config` as the RIB evaluates them.
fn chain(config: &Config, names: &[String]) -> Chain {
    let policies = names
        .iter()
        .map(|name| {
            Arc::new(Policy {
                name: name.clone(),
                rules: config.policies[name].clone(),
            })
        })
        .collect();
    Chain(policies)
}

const SAMPLES: &[&str] = &[
    "198.19.0.1/32",
    "198.18.0.1/32",
    "198.19.0.0/24",
    "198.19.0.2/32",
    "0.0.0.0/0",
    "10.0.0.0/8",
    "fd00::/64",
    "::/0",
];

#[test]
fn s1_three_node_config_translates_to_two_tunnelled_peers() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("private.key");
    // Nothing in the files names a neighbor (AllowedIPs 0.0.0.0/0, ::/0,
    // the endpoints are underlay addresses): tied on the command line.
    let (t, c) = import(
        "s1/bgpd.conf",
        &["2.2.2.2=s1/wg0.conf", "3.3.3.3=s1/wg1.conf"],
        Some(&key_file),
    );
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    assert_eq!(c.asn, 65500);
    assert_eq!(c.router_id.to_string(), "1.1.1.1");
    assert_eq!(c.loopback, vec![net("1.1.1.1/32")]);
    assert_eq!(c.wireguard.private_key_file, key_file);
    assert_eq!(t.private_key.as_ref().unwrap().to_base64(), S1_PRIVATE);
    assert!(c.announce.is_empty());

    let names: Vec<&str> = c.peers.keys().map(String::as_str).collect();
    assert_eq!(names, ["s2", "s3"]);
    for (name, asn, addr, ifname, public, endpoint) in [
        ("s2", 65501, "2.2.2.2", "wg0", S2_PUBLIC, "10.2.0.2:51820"),
        ("s3", 65502, "3.3.3.3", "wg1", S3_PUBLIC, "10.3.0.2:51820"),
    ] {
        let p = &c.peers[name];
        assert_eq!(p.asn, PeerAs::Is(asn));
        assert_eq!(p.addresses, vec![ip(addr)]);
        assert_eq!(p.description.as_deref(), Some(name.to_uppercase().as_str()));
        assert_eq!(p.local_address, Some(ip("1.1.1.1")), "update-source");
        let w = p.wireguard.as_ref().expect("tunnel");
        assert_eq!(w.interface, ifname);
        assert_eq!(w.public_key.to_base64(), public);
        assert_eq!(w.endpoint, Some(Endpoint::parse(endpoint).unwrap()));
        assert_eq!(w.listen_port, None);
        // ALLOW-ALL in, for IPv4 (IPv6 unicast is not activated in FRR).
        assert!(accepts(&c, &p.import, "198.19.0.1/32"));
        assert!(accepts(&c, &p.import, "0.0.0.0/0"));
        assert!(!accepts(&c, &p.import, "fd00::/64"));
        // DENY-ALL out.
        for s in SAMPLES {
            assert!(!accepts(&c, &p.export, s), "export accepts {s}");
        }
    }
    // DENY-ALL on its own rejects everything.
    for s in SAMPLES {
        assert!(!accepts(&c, &["DENY-ALL".to_string()], s));
    }
}

#[test]
fn s2_redistribute_is_listed_and_bgp_out_accepts_only_its_prefix() {
    let (t, c) = import("s2/bgpd.conf", &["1.1.1.1=s2/wg0.conf"], None);
    assert_eq!(c.asn, 65501);
    assert_eq!(c.router_id.to_string(), "2.2.2.2");
    assert!(
        c.announce.is_empty(),
        "redistribute is not guessed into announce"
    );
    assert_eq!(t.skipped.len(), 1, "{:?}", t.skipped);
    assert_eq!(t.skipped[0].text, "redistribute connected");
    assert_eq!(t.skipped[0].line, Some(10));
    assert!(t.yaml.contains("# not translated:\n"));
    assert!(t.yaml.contains("`redistribute connected`"));
    // The prefix BGP-OUT lets out is suggested, commented out.
    assert!(t.yaml.contains("# announce: [198.19.0.1/32]"), "{}", t.yaml);
    // No --key-file: the key is not written, and the notes say so.
    assert!(t.notes.iter().any(|n| n.contains("--key-file")));

    let p = &c.peers["s1"];
    assert_eq!(p.asn, PeerAs::Is(65500));
    assert_eq!(p.addresses, vec![ip("1.1.1.1")]);
    let w = p.wireguard.as_ref().unwrap();
    assert_eq!(w.public_key.to_base64(), S1_PUBLIC);
    assert_eq!(w.listen_port, Some(51820));
    assert_eq!(w.endpoint, None);
    assert_eq!(w.interface, "wg0");
    for s in SAMPLES {
        let want = *s == "198.19.0.1/32";
        assert_eq!(accepts(&c, &p.export, s), want, "BGP-OUT on {s}");
        assert_eq!(accepts(&c, &["BGP-OUT".to_string()], s), want);
    }
}

#[test]
fn two_node_config_matches_by_allowed_ips_and_moves_the_tunnel_address_to_lo() {
    let (t, c) = import("two-node/bgpd.conf", &["two-node/wg0.conf"], None);
    let p = c.peers.values().next().unwrap();
    assert_eq!(p.addresses, vec![ip("198.18.0.1")]);
    assert_eq!(p.wireguard.as_ref().unwrap().interface, "wg0");
    // Address = 100.64.187.1/32 becomes the loopback sourcing the session.
    assert!(c.loopback.contains(&net("100.64.187.1/32")));
    assert_eq!(p.local_address, Some(ip("100.64.187.1")));
    assert_eq!(c.router_id.to_string(), "100.64.187.1");
    let notes = t.notes.join("\n");
    assert!(
        !notes.contains("by order"),
        "matched by AllowedIPs: {notes}"
    );
    assert!(notes.contains("Table = auto"), "{notes}");
    assert!(
        notes.contains("AllowedIPs = 198.18.0.1/32 ignored"),
        "{notes}"
    );
    assert!(notes.contains("unnumbered"), "{notes}");
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    // `soft-reconfiguration inbound` has its equivalent.
    assert!(p.soft_reconfiguration_inbound, "{}", t.yaml);
}

/// Exercises what the seed does not: peer-groups, IPv6, prefix-list
/// filters with ge/le, network, timers, passive, shutdown, host routes in
/// PostUp that override file order, and lines with no equivalent.
const RICH: &str = "\
frr version 8.4.4
hostname edge1
interface lo
 ip address 10.255.0.1/32
 ipv6 address fd00::1/128
exit
router bgp 65500
 bgp router-id 10.255.0.1
 bgp bestpath as-path multipath-relax
 bgp graceful-restart
 bgp graceful-restart select-defer-time 90
 bgp graceful-restart restart-time 150
 timers bgp 10 30
 neighbor SPOKES peer-group
 neighbor SPOKES remote-as 65510
 neighbor SPOKES update-source 10.255.0.1
 neighbor SPOKES password grp-secret
 neighbor SPOKES bfd
 neighbor SPOKES timers connect 5
 neighbor 10.255.0.2 peer-group SPOKES
 neighbor 10.255.0.2 description Spoke A
 neighbor 10.255.0.3 remote-as 65511
 neighbor 10.255.0.3 passive
 neighbor 10.255.0.3 shutdown
 neighbor 10.255.0.3 password s3cret
 neighbor 10.255.0.3 timers 5 15
 neighbor fd00::4 remote-as 65512
 neighbor 10.255.0.9 remote-as internal
 !
 address-family ipv4 unicast
  network 198.51.100.0/24
  neighbor SPOKES prefix-list FROM-SPOKES in
  neighbor SPOKES route-map OUT out
  neighbor SPOKES maximum-prefix 1000 90 restart 5
  neighbor SPOKES next-hop-self
  neighbor 10.255.0.3 maximum-prefix 500 warning-only
  neighbor 10.255.0.3 prefix-list UPSTREAM in
  neighbor 10.255.0.3 route-map OUT out
  maximum-paths 4
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8::/48
  neighbor fd00::4 activate
  neighbor fd00::4 route-map OUT6 in
  neighbor fd00::4 route-map OUT6 out
  neighbor fd00::4 maximum-prefix 200
 exit-address-family
exit
!
ip prefix-list FROM-SPOKES seq 5 deny 10.0.0.0/8 le 32
ip prefix-list FROM-SPOKES seq 10 permit 0.0.0.0/0 ge 16 le 24
ip prefix-list MINE seq 5 permit 198.51.100.0/24
ip prefix-list UPSTREAM seq 5 permit 0.0.0.0/0 le 24
ipv6 prefix-list MINE6 seq 5 permit 2001:db8::/32 le 48
!
route-map OUT permit 10
 match ip address prefix-list MINE
 set metric 10
!
route-map OUT6 permit 10
 match ipv6 address prefix-list MINE6
!
line vty
!
";

fn wg(interface: &str, text: &str) -> WgFile {
    WgFile {
        interface: interface.into(),
        origin: format!("{interface}.conf"),
        text: text.into(),
        neighbor: None,
    }
}

#[test]
fn rich_config_keeps_its_meaning() {
    let k1 = Key::generate_private();
    let k2 = Key::generate_private();
    let pubs: Vec<Key> = (0..3)
        .map(|_| Key::generate_private().get_public())
        .collect();
    // Given in the "wrong" order: the host routes decide.
    let files = [
        wg(
            "wg-b",
            &format!(
                "[Interface]\nPrivateKey = {}\nListenPort = 51822\nMTU = 1400\nTable = off\n\
                 PostUp = ip route add 10.255.0.3/32 dev %i\n\
                 [Peer]\nPublicKey = {}\nEndpoint = b.example.net:51820\n\
                 PersistentKeepalive = 25\nAllowedIPs = 0.0.0.0/0, ::/0\n",
                k1.to_base64(),
                pubs[1].to_base64()
            ),
        ),
        wg(
            "wg-a",
            &format!(
                "[Interface]\nPrivateKey = {}\nTable = off\n\
                 PostUp = ip route add 10.255.0.2/32 dev wg-a\n\
                 [Peer]\nPublicKey = {}\nEndpoint = 192.0.2.2:51820\nAllowedIPs = 0.0.0.0/0, ::/0\n",
                k2.to_base64(),
                pubs[0].to_base64()
            ),
        ),
    ];
    let (t, c) = import_text("rich.conf", RICH, &files, None);

    assert_eq!(c.router_id.to_string(), "10.255.0.1");
    assert_eq!(c.loopback, vec![net("10.255.0.1/32"), net("fd00::1/128")]);
    assert_eq!(
        c.announce,
        vec![net("198.51.100.0/24"), net("2001:db8::/48")]
    );

    let a = &c.peers["spoke-a"];
    assert_eq!(a.asn, PeerAs::Is(65510), "remote-as from the peer-group");
    assert_eq!(a.hold_time, 30, "timers bgp");
    assert_eq!(a.keepalive, 10);
    assert_eq!(a.wireguard.as_ref().unwrap().interface, "wg-a");
    assert_eq!(a.wireguard.as_ref().unwrap().public_key, pubs[0]);
    // prefix-list FROM-SPOKES in: 10/8 denied, else /16../24 permitted.
    assert!(accepts(&c, &a.import, "172.16.0.0/16"));
    assert!(accepts(&c, &a.import, "192.168.1.0/24"));
    assert!(!accepts(&c, &a.import, "10.1.0.0/16"));
    assert!(!accepts(&c, &a.import, "192.168.1.128/25"));
    assert!(!accepts(&c, &a.import, "2001:db8::/48"));
    // route-map OUT out: only MINE.
    assert!(accepts(&c, &a.export, "198.51.100.0/24"));
    assert!(!accepts(&c, &a.export, "198.51.100.0/25"));

    let b = &c.peers["peer-10-255-0-3"];
    assert!(b.passive && b.shutdown);
    assert_eq!((b.keepalive, b.hold_time), (5, 15));
    let wb = b.wireguard.as_ref().unwrap();
    assert_eq!(wb.interface, "wg-b");
    assert_eq!(wb.public_key, pubs[1]);
    assert_eq!(wb.listen_port, Some(51822));
    assert_eq!(wb.mtu, Some(1400));
    assert_eq!(wb.persistent_keepalive, Some(25));
    assert_eq!(
        wb.endpoint,
        Some(Endpoint::Host {
            host: "b.example.net".into(),
            port: 51820
        })
    );

    // IPv6-only neighbor: IPv4 is active by default but has no route-map,
    // so (ebgp-requires-policy) only OUT6 decides, on IPv6.
    let v6 = &c.peers["peer-fd00--4"];
    // No update-source in FRR: the kernel's choice on a link, else our
    // loopback, as wgbgpd does for a plain peer without local_address.
    assert_eq!(v6.local_address, None);
    assert!(v6.wireguard.is_none(), "no file left: plain eBGP");
    assert!(accepts(&c, &v6.export, "2001:db8::/48"));
    assert!(accepts(&c, &v6.export, "2001:db8:1::/48"));
    assert!(!accepts(&c, &v6.export, "2001:db8::/64"));
    assert!(!accepts(&c, &v6.export, "198.51.100.0/24"));

    // Different private keys: the first is used, and the notes say so.
    assert_eq!(t.private_key.as_ref(), Some(&k1));
    let notes = t.notes.join("\n");
    assert!(notes.contains("2 different private keys"), "{notes}");
    assert!(notes.contains(&k2.get_public().to_base64()), "{notes}");
    // What wgbgp has is translated: password, bfd, maximum-prefix (also
    // from the peer-group), maximum-paths, multipath-relax, graceful restart.
    assert_eq!(b.password.as_deref(), Some("s3cret"));
    assert_eq!(
        a.password.as_deref(),
        Some("grp-secret"),
        "from the peer-group"
    );
    assert!(a.bfd.is_some() && b.bfd.is_none());
    let max = a.max_prefix.unwrap();
    assert_eq!(max.limit, 1000);
    assert_eq!(max.action, wgbgp::config::MaxPrefixAction::Restart);
    assert_eq!(max.restart_after, 300, "restart 5 (minutes)");
    let max = b.max_prefix.unwrap();
    assert_eq!(
        (max.limit, max.action),
        (500, wgbgp::config::MaxPrefixAction::Warn)
    );
    assert_eq!(v6.max_prefix.unwrap().limit, 200);
    assert_eq!(c.multipath, 4);
    assert!(c.multipath_relax);
    assert_eq!(c.local_restart.unwrap().select_defer_time, 90);
    assert_eq!(a.graceful_restart, Some(150));
    // `permit 0.0.0.0/0 le 24` accepts the default route in FRR: the
    // translation names it, so the default-route guard lets it in too.
    assert!(accepts(&c, &b.import, "0.0.0.0/0"));
    assert!(accepts(&c, &b.import, "203.0.113.0/24"));
    assert!(!accepts(&c, &b.import, "203.0.113.0/25"));
    let guard = rib::guard::Guard {
        reject_default_route: true,
        ..Default::default()
    };
    assert_eq!(
        rib::guard::refuses(guard, &net("0.0.0.0/0"), &chain(&c, &b.import)),
        None,
        "{}",
        t.yaml
    );

    // Nothing dropped silently; what is lost is told from what is not needed.
    let kind = |text: &str| {
        t.skipped
            .iter()
            .find(|s| s.text == text)
            .map(|s| s.kind)
            .unwrap_or_else(|| panic!("{text} not listed: {:?}", t.skipped))
    };
    use wgbgp::import_frr::SkipKind::{Lost, NotNeeded};
    assert_eq!(kind("frr version 8.4.4"), NotNeeded);
    assert_eq!(kind("line vty"), NotNeeded);
    assert_eq!(kind("neighbor SPOKES timers connect 5"), NotNeeded);
    assert_eq!(kind("neighbor SPOKES next-hop-self"), NotNeeded);
    assert_eq!(kind("neighbor 10.255.0.9 (remote-as internal)"), Lost);
    assert!(!c.peers.values().any(|p| p.address() == ip("10.255.0.9")));
    let skipped: Vec<String> = t.skipped.iter().map(|s| s.text.clone()).collect();
    for translated in [
        "maximum-paths 4",
        "neighbor SPOKES bfd",
        "bgp graceful-restart",
    ] {
        assert!(
            !skipped.iter().any(|s| s.contains(translated)),
            "{translated}: {skipped:?}"
        );
    }
    // `set metric` is translated into the rule that accepts MINE.
    assert!(!skipped.iter().any(|s| s == "set metric 10"), "{skipped:?}");
    assert!(t.yaml.contains("      set: { med: 10 }"), "{}", t.yaml);
    // A secret is written where it is used, never in the comments.
    let comments: String = t
        .yaml
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !comments.contains("s3cret") && !comments.contains("grp-secret"),
        "{comments}"
    );
}

/// `wgbgp import frr` writes the key (0600) and YAML that `wgbgp config
/// check` accepts; `peer-config` on the result gives S2 a valid stanza.
#[test]
fn binary_imports_s1_and_the_result_passes_config_check_and_peer_config() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.key");
    let yaml = dir.path().join("s1.yaml");
    let d = |r: &str| data(r).display().to_string();
    let key_s = key.display().to_string();
    let args = [
        "import",
        "frr",
        "--key-file",
        &key_s,
        &d("s1/bgpd.conf"),
        &format!("2.2.2.2={}", d("s1/wg0.conf")),
        &format!("3.3.3.3={}", d("s1/wg1.conf")),
    ];
    let out = wgbgp(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&yaml, &out.stdout).unwrap();
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim(), S1_PRIVATE);
    assert!(text(&out.stderr).contains(S1_PUBLIC));

    let check = wgbgp(&["config", "check", yaml.to_str().unwrap()]);
    assert!(check.status.success(), "{}", text(&check.stderr));

    // Same key again: fine. Another key in the file: refused, untouched.
    assert!(wgbgp(&args).status.success());
    std::fs::write(&key, format!("{}\n", Key::generate_private().to_base64())).unwrap();
    let again = wgbgp(&args);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("not overwritten"));
    std::fs::write(&key, format!("{S1_PRIVATE}\n")).unwrap();

    // peer-config for S2, pasted into a minimal S2 config.
    let y = yaml.to_str().unwrap();
    let out = wgbgp(&[
        "--config",
        y,
        "peer-config",
        "s2",
        "--name",
        "s1",
        "--endpoint",
        "10.1.0.2:51821",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stanza = text(&out.stdout);
    let s2 = format!("router_id: 2.2.2.2\nasn: 65501\nloopback: [2.2.2.2/32]\npeers:\n{stanza}");
    let c = Config::from_str(&s2, "s2.yaml").unwrap_or_else(|e| panic!("{e}\n{s2}"));
    let p = &c.peers["s1"];
    assert_eq!(p.asn, PeerAs::Is(65500));
    assert_eq!(p.addresses, vec![ip("1.1.1.1")]);
    let w = p.wireguard.as_ref().unwrap();
    assert_eq!(w.public_key.to_base64(), S1_PUBLIC);
    assert_eq!(w.endpoint, Some(Endpoint::parse("10.1.0.2:51821").unwrap()));
    // We send to 10.2.0.2:51820, so S2 must listen there.
    assert_eq!(w.listen_port, Some(51820));
    assert!(p.import.is_empty() && p.export.is_empty());
    assert!(stanza.contains("REPLACE"), "placeholders are marked");

    // Without --endpoint, S1 has no listen_port: the placeholder does not
    // validate, so it cannot be pasted unedited.
    let out = wgbgp(&["--config", y, "peer-config", "s2", "--name", "s1"]);
    assert!(out.status.success());
    let stanza = text(&out.stdout);
    assert!(stanza.contains("endpoint: REPLACE-ME:PORT"), "{stanza}");
    let s2 = format!("router_id: 2.2.2.2\nasn: 65501\nloopback: [2.2.2.2/32]\npeers:\n{stanza}");
    assert!(Config::from_str(&s2, "s2.yaml").is_err());

    let out = wgbgp(&["--config", y, "peer-config", "s9"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("s2, s3"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn peer_config_puts_the_session_address_first_and_names_our_listen_port() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let private = Key::generate_private();
    std::fs::write(&key, private.to_base64()).unwrap();
    let src = format!(
        "router_id: 1.1.1.1\nasn: 65500\nloopback: [1.1.1.1/32, \"fd00::1/128\"]\n\
         wireguard: {{ private_key_file: {} }}\n\
         peers:\n  s2:\n    asn: 65501\n    address: \"fd00::2\"\n    wireguard:\n\
         \x20     public_key: {S2_PUBLIC}\n      listen_port: 51821\n      mtu: 1380\n",
        key.display()
    );
    let c = Config::from_str(&src, "s1.yaml").unwrap();
    let out =
        wgbgp::peer_config::stanza(&c, "s2", &private.get_public(), "a-rather-long-name", None)
            .unwrap();
    let remote = format!(
        "router_id: 2.2.2.2\nasn: 65501\nloopback: [2.2.2.2/32, \"fd00::2/128\"]\npeers:\n{out}"
    );
    let rc = Config::from_str(&remote, "s2.yaml").unwrap_or_else(|e| panic!("{e}\n{remote}"));
    let p = &rc.peers["a-rather-long-name"];
    assert_eq!(p.addresses, vec![ip("fd00::1"), ip("1.1.1.1")]);
    let w = p.wireguard.as_ref().unwrap();
    assert_eq!(w.public_key, private.get_public());
    assert_eq!(
        w.endpoint,
        Some(Endpoint::Host {
            host: "REPLACE-ME".into(),
            port: 51821
        })
    );
    assert!(w.interface.len() <= 15, "{}", w.interface);
    assert_eq!(w.mtu, Some(1380));
    assert_eq!(w.listen_port, None, "we have no endpoint for them");
}

/// Route-map `set` clauses: translated where wgbgp has the same meaning,
/// listed where it has not.
const SETS: &str = "\
router bgp 65500
 bgp router-id 10.0.0.1
 neighbor 10.0.0.2 remote-as 65501
 neighbor 10.0.0.2 update-source 10.0.0.1
 address-family ipv4 unicast
  neighbor 10.0.0.2 route-map IN in
  neighbor 10.0.0.2 route-map OUT out
 exit-address-family
exit
!
ip prefix-list CUST seq 5 permit 203.0.113.0/24 le 28
!
route-map IN permit 10
 match ip address prefix-list CUST
 set local-preference 200
 set metric 5
 set community 65500:1 no-export additive
 set large-community 65500:0:1 additive
 set community 65500:9
!
route-map IN permit 20
!
route-map OUT permit 10
 set as-path prepend 65500 65500
 set local-preference 300
 set as-path prepend 65001
!
";

#[test]
fn route_map_set_clauses_become_policy_set() {
    let (t, c) = import_text("sets.conf", SETS, &[], None);
    let p = &c.peers["peer-10-0-0-2"];
    assert_eq!(p.import[0], "no-ipv6");
    let import = &c.policies[&p.import[1]];
    let set = import[0]
        .set
        .as_ref()
        .unwrap_or_else(|| panic!("{}", t.yaml));
    assert_eq!((set.local_pref, set.med), (Some(200), Some(5)));
    let add: Vec<String> = set
        .communities
        .add
        .standard
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(add, ["65500:1", "65535:65281"]);
    assert_eq!(set.communities.add.large.len(), 1);
    assert!(import[1].set.is_none(), "entry 20 sets nothing: {import:?}");
    assert!(accepts(&c, &p.import, "203.0.113.0/26"));
    assert!(accepts(&c, &p.import, "198.51.100.0/24"), "entry 20");

    let export = &c.policies[&p.export[1]];
    let set = export[0].set.as_ref().expect("OUT sets");
    assert_eq!(set.prepend, 2);
    assert_eq!(set.local_pref, None, "not sent to eBGP");
    let notes = t.notes.join("\n");
    assert!(
        notes.contains("`set local-preference` on export"),
        "{notes}"
    );

    let skipped: Vec<String> = t.skipped.iter().map(|s| s.text.clone()).collect();
    for want in ["set community 65500:9", "set as-path prepend 65001"] {
        assert!(skipped.iter().any(|s| s == want), "{want} in {skipped:?}");
    }
    assert!(
        t.yaml
            .contains("set: { local_pref: 200, med: 5, communities: { add: "),
        "{}",
        t.yaml
    );
}

#[test]
fn capability_extended_nexthop_is_kept_on_ipv4_sessions_and_its_absence_on_ipv6_ones() {
    let src = "\
router bgp 65500
 bgp router-id 10.0.0.1
 neighbor 10.0.0.2 remote-as 65501
 neighbor 10.0.0.2 update-source 10.0.0.1
 neighbor 10.0.0.2 capability extended-nexthop
 neighbor 10.0.0.3 remote-as 65502
 neighbor 10.0.0.3 update-source 10.0.0.1
 neighbor fd00::4 remote-as 65504
 neighbor fd00::4 update-source fd00::1
 neighbor fd00::4 capability extended-nexthop
 neighbor fd00::5 remote-as 65505
 neighbor fd00::5 update-source fd00::1
";
    let (t, c) = import_text("ext.conf", src, &[], None);
    // Asked for on an IPv4 session: written out. On an IPv6 session it is
    // wgbgp's default, so nothing is written and it is still on; not asked
    // for there, FRR does not announce it, so neither must we.
    assert_eq!(
        t.yaml.matches("extended_next_hop: true").count(),
        1,
        "{}",
        t.yaml
    );
    assert_eq!(
        t.yaml.matches("extended_next_hop: false").count(),
        1,
        "{}",
        t.yaml
    );
    let by_address = |a: &str| c.peers.values().find(|p| p.address() == ip(a)).unwrap();
    assert!(by_address("10.0.0.2").extended_next_hop);
    assert!(!by_address("10.0.0.3").extended_next_hop);
    assert!(by_address("fd00::4").extended_next_hop);
    assert!(!by_address("fd00::5").extended_next_hop);
    // IPv4 is active there (`bgp default ipv4-unicast`): the note says
    // FRR carried none of it.
    assert!(
        t.yaml
            .contains("neighbor fd00::5: IPv4 unicast is active on this IPv6 session"),
        "{}",
        t.yaml
    );
    assert!(
        !t.yaml.contains("capability extended-nexthop"),
        "{}",
        t.yaml
    );
}

const AS_PATH_AND_COMMUNITY_LISTS: &str = "\
router bgp 65500
 bgp router-id 10.255.0.1
 neighbor 192.0.2.2 remote-as 65501
 address-family ipv4 unicast
  neighbor 192.0.2.2 route-map IN in
  neighbor 192.0.2.2 route-map OUT out
 exit-address-family
!
interface lo
 ip address 10.255.0.1/32
!
bgp as-path access-list FROM-65001 seq 5 permit _65001$
bgp as-path access-list FROM-65001 seq 10 permit ^65002_
bgp as-path access-list MIXED seq 5 deny _666_
bgp as-path access-list MIXED seq 10 permit .*
bgp community-list standard TAGGED seq 5 permit 65001:100
bgp large-community-list standard TAGGED seq 10 permit 65001:0:7
bgp community-list expanded ANY-65003 seq 5 permit ^65003:.*$
route-map IN deny 5
 match community ANY-65003
route-map IN permit 10
 match as-path FROM-65001
 set local-preference 200
route-map IN permit 20
 match community TAGGED
route-map IN permit 30
 match as-path MIXED
route-map OUT permit 10
";

#[test]
fn as_path_access_lists_and_community_lists_become_as_path_and_community_matches() {
    use bgp::wire::{AsPath, Community, LargeCommunity, PathAttributes};
    let (t, c) = import_text("lists.conf", AS_PATH_AND_COMMUNITY_LISTS, &[], None);
    assert!(
        t.yaml.contains("as_path: [\"_65001$\", \"^65002_\"]"),
        "{}",
        t.yaml
    );
    assert!(t.yaml.contains("community: [\"65003:*\"]"), "{}", t.yaml);
    let chain = Chain(
        c.peers
            .values()
            .next()
            .unwrap()
            .import
            .iter()
            .map(|name| {
                Arc::new(Policy {
                    name: name.clone(),
                    rules: c.policies[name].clone(),
                })
            })
            .collect(),
    );
    let cx = rib::policy::Context {
        peer: "x",
        local_as: 65500,
    };
    // (AS path, communities, large communities) -> LOCAL_PREF if accepted.
    let eval = |path: &[u32], comms: &[u32], large: &[u32]| {
        let mut a = PathAttributes {
            as_path: AsPath::from_sequence(path.iter().copied()),
            communities: comms.iter().map(|&c| Community(c)).collect(),
            ..Default::default()
        };
        for &l in large {
            a.large_communities_mut().push(LargeCommunity {
                global: 65001,
                local1: 0,
                local2: l,
            });
        }
        chain
            .evaluate(&net("198.51.100.0/24"), &a, &cx)
            .map(|acc| acc.attrs.local_pref)
    };
    assert_eq!(
        eval(&[65501, 65001], &[], &[]),
        Some(Some(200)),
        "origin 65001"
    );
    assert_eq!(eval(&[65002, 7], &[], &[]), Some(Some(200)), "from 65002");
    assert_eq!(
        eval(&[65501, 7], &[65001 << 16 | 100], &[]),
        Some(None),
        "tagged"
    );
    assert_eq!(eval(&[65501, 7], &[], &[7]), Some(None), "large tagged");
    assert_eq!(
        eval(&[65501, 65001], &[65003 << 16 | 9], &[]),
        None,
        "any 65003:* is denied first"
    );
    // Entry 30's list has a deny entry wgbgp cannot say as "any of": the
    // permit entry is dropped, so nothing extra is accepted.
    assert_eq!(eval(&[65501, 7], &[], &[]), None);
}

/// A translation that loses something fails, naming each lost line with
/// its number and printing no configuration; `--allow-partial` prints it
/// with those lines under `# not translated:`. Housekeeping alone passes.
#[test]
fn binary_fails_on_a_lossy_translation_unless_allow_partial() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bgpd.conf");
    let lossy = "frr version 8.4.4\n\
                 hostname edge\n\
                 router bgp 65500\n \
                 bgp router-id 10.0.0.1\n \
                 neighbor 10.0.0.2 remote-as 65501\n \
                 neighbor 10.0.0.2 update-source 10.0.0.1\n \
                 neighbor 10.0.0.3 remote-as internal\n \
                 neighbor 10.0.0.2 allowas-in 1\n\
                 exit\n";
    std::fs::write(&conf, lossy).unwrap();
    let c = conf.to_str().unwrap();
    let out = wgbgp(&["import", "frr", c]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no partial config on stdout");
    let err = text(&out.stderr);
    assert!(err.contains("2 item(s)"), "{err}");
    assert!(
        err.contains(":8: `neighbor 10.0.0.2 allowas-in 1`"),
        "{err}"
    );
    assert!(
        err.contains("neighbor 10.0.0.3 (remote-as internal)"),
        "{err}"
    );
    assert!(err.contains("--allow-partial"), "{err}");

    let out = wgbgp(&["import", "frr", "--allow-partial", c]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let lost = yaml.split("# not needed").next().unwrap();
    assert!(lost.contains("allowas-in"), "{yaml}");
    assert!(
        yaml.contains("hostname edge"),
        "housekeeping is listed too: {yaml}"
    );
    Config::from_str(&yaml, "partial.yaml").unwrap();

    // Only housekeeping and implied settings: exit 0 without the flag.
    let clean = lossy
        .replace(" neighbor 10.0.0.3 remote-as internal\n", "")
        .replace(
            " neighbor 10.0.0.2 allowas-in 1\n",
            " neighbor 10.0.0.2 timers connect 5\n",
        );
    std::fs::write(&conf, clean).unwrap();
    let out = wgbgp(&["import", "frr", c]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("# not translated: nothing"));
}

/// A VPS edge's provider session: multihop to the provider's route server
/// with a password, no update-source and no loopback anywhere.
const PROVIDER: &str = "\
router bgp 65500
 bgp router-id 192.0.2.10
 neighbor 169.254.169.254 remote-as 64515
 neighbor 169.254.169.254 ebgp-multihop 2
 neighbor 169.254.169.254 password s3cret
 address-family ipv4 unicast
  network 198.18.0.0/24
  neighbor 169.254.169.254 route-map IN in
  neighbor 169.254.169.254 route-map OUT out
 exit-address-family
exit
!
route-map IN permit 10
!
route-map OUT permit 10
!
";

#[test]
fn a_multihop_provider_session_keeps_its_hops_and_needs_no_loopback() {
    let (t, c) = import_text("provider.conf", PROVIDER, &[], None);
    let p = &c.peers["peer-169-254-169-254"];
    assert_eq!((p.multihop, p.ttl()), (Some(2), Some(2)), "{}", t.yaml);
    assert_eq!(p.local_address, None, "the kernel picks, as FRR does");
    assert_eq!(p.password.as_deref(), Some("s3cret"));
    assert!(
        c.loopback.is_empty(),
        "no loopback invented: {:?}",
        c.loopback
    );
    assert!(
        t.skipped.is_empty(),
        "{:?}",
        t.skipped.iter().map(|s| &s.text).collect::<Vec<_>>()
    );
}

/// `remote-as external` (any AS but ours) becomes `asn: external`, with
/// the peer's policies; nothing is lost.
#[test]
fn remote_as_external_becomes_an_external_peer() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bgpd.conf");
    let src = "router bgp 65500\n \
               bgp router-id 10.0.0.1\n \
               neighbor 10.0.0.2 remote-as external\n \
               address-family ipv4 unicast\n  \
               neighbor 10.0.0.2 route-map ANY in\n  \
               neighbor 10.0.0.2 route-map ANY out\n \
               exit-address-family\n\
               exit\n\
               route-map ANY permit 10\n\
               exit\n";
    std::fs::write(&conf, src).unwrap();
    let out = wgbgp(&["import", "frr", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let cfg = Config::from_str(&yaml, "external.yaml").unwrap();
    let peer = cfg.peers.values().next().expect("the peer is kept");
    assert_eq!(peer.asn, PeerAs::External, "{yaml}");
    assert!(!peer.import.is_empty() && !peer.export.is_empty(), "{yaml}");
}
