//! `wgbgp import frr`: which wg-quick file is whose tunnel, and dn42-style
//! link-local sessions (issue 15).
//!
//! A file goes to the neighbor something ties it to — `NEIGHBOR=FILE` on
//! the command line, `neighbor X interface IFNAME`, a PostUp host route or
//! AllowedIPs entry, the Endpoint — never to neighbors in file order; when
//! nothing ties a file to exactly one neighbor the import fails and says
//! how to tie them. The dn42 node in `bin/tests/data/frr/dn42/` (written
//! for these tests, as dn42's guides write FRR and wg-quick files) has two
//! link-local peers over tunnels whose files differ only in keys, ports and
//! endpoints, and one link-local peer on an Ethernet link.

use std::net::IpAddr;

use wgbgp::config::Config;
use wgbgp::import_frr::{self, ImportError, SkipKind, Translation, WgFile};
use wireguard_control::Key;

mod common;
use common::{data, text, wgbgp};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A wg-quick file named `interface.conf`, tied to `neighbor` if given.
fn wg(interface: &str, neighbor: Option<&str>, text: &str) -> WgFile {
    WgFile {
        interface: interface.into(),
        origin: format!("{interface}.conf"),
        text: text.into(),
        neighbor: neighbor.map(ip),
    }
}

/// A tunnel file whose peer has a fresh key; `extra` goes in [Interface],
/// `peer` in [Peer] (AllowedIPs 0.0.0.0/0, ::/0 unless it sets its own).
fn tunnel(extra: &str, peer: &str) -> (String, Key) {
    let public = Key::generate_private().get_public();
    let allowed = if peer.contains("AllowedIPs") {
        ""
    } else {
        "AllowedIPs = 0.0.0.0/0, ::/0\n"
    };
    let text = format!(
        "[Interface]\nTable = off\n{extra}[Peer]\nPublicKey = {}\n{allowed}{peer}",
        public.to_base64()
    );
    (text, public)
}

/// Two tunnel peers of AS 65500, sessions loopback to loopback.
const TWO: &str = "\
router bgp 65500
 bgp router-id 10.0.0.100
 no bgp ebgp-requires-policy
 neighbor 10.0.0.1 remote-as 65501
 neighbor 10.0.0.1 update-source 10.0.0.100
 neighbor 10.0.0.2 remote-as 65502
 neighbor 10.0.0.2 update-source 10.0.0.100
exit
";

fn translate(bgpd: &str, files: &[WgFile]) -> Result<Translation, ImportError> {
    import_frr::translate("bgpd.conf", bgpd, files, None)
}

fn config(t: &Translation) -> Config {
    Config::from_str(&t.yaml, "imported.yaml").unwrap_or_else(|e| panic!("{e}\n---\n{}", t.yaml))
}

/// The interface of each peer's tunnel, by session address.
fn tunnels_of(c: &Config) -> Vec<(IpAddr, String)> {
    let mut out: Vec<(IpAddr, String)> = c
        .peers
        .values()
        .filter_map(|p| Some((p.address(), p.interface()?.to_string())))
        .collect();
    out.sort();
    out
}

fn untied(e: ImportError) -> String {
    match e {
        ImportError::Untied { .. } => e.to_string(),
        other => panic!("expected a refusal to guess, got: {other}"),
    }
}

#[test]
fn dn42_link_local_neighbors_become_tunnel_peers_with_their_link_local_address() {
    let files: Vec<WgFile> = ["dn42/wg-kioubit.conf", "dn42/wg-dn42.conf"]
        .iter()
        .map(|f| WgFile::read(&data(f)).unwrap())
        .collect();
    let bgpd = std::fs::read_to_string(data("dn42/bgpd.conf")).unwrap();
    let t = import_frr::translate("dn42/bgpd.conf", &bgpd, &files, None).unwrap();
    let c = config(&t);
    let lost: Vec<_> = t
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::Lost)
        .collect();
    assert!(lost.is_empty(), "{lost:?}");
    // No loopback made up from the tunnels' link-local Address.
    assert!(c.loopback.is_empty(), "{:?}\n{}", c.loopback, t.yaml);
    assert!(!t.yaml.contains("/128"), "{}", t.yaml);

    for (name, addr, ifname, public) in [
        (
            "peer-a",
            "fe80::1234",
            "wg-dn42",
            "/qdkO+SNYf6M8gVr3AgFHrm1DyxiaPcqyueQvh0RPg0=",
        ),
        (
            "peer-fe80--5678",
            "fe80::5678",
            "wg-kioubit",
            "KASOBa/7PWZ1XrfxH6kdANIXfJssm+XKTbIDtI+sf0g=",
        ),
    ] {
        let p = &c.peers[name];
        assert_eq!(p.addresses, vec![ip(addr)], "{}", t.yaml);
        let w = p.wireguard.as_ref().expect("a tunnel peer");
        assert_eq!(w.interface, ifname, "{}", t.yaml);
        assert_eq!(w.public_key.to_base64(), public, "each peer its own key");
        assert_eq!(p.session_interface(), Some(ifname), "scoped to its tunnel");
        assert_eq!(p.link_local, Some("fe80::100".parse().unwrap()));
        assert_eq!(c.tunnel_link_local(p), Some("fe80::100".parse().unwrap()));
        assert_eq!(p.local_address, None, "sourced from the link-local address");
        // IPv4 over the IPv6 session only where FRR announced RFC 8950
        // (`capability extended-nexthop`): FRR carried none on the other.
        assert_eq!(p.extended_next_hop, name == "peer-a", "{}", t.yaml);
    }
    assert_eq!(
        c.peers["peer-a"].wireguard.as_ref().unwrap().listen_port,
        Some(21000)
    );
    assert_eq!(
        c.peers["peer-fe80--5678"]
            .wireguard
            .as_ref()
            .unwrap()
            .listen_port,
        Some(21001)
    );
    // A link-local neighbor on an interface without a tunnel file.
    let eth = &c.peers["peer-fe80--42"];
    assert!(eth.wireguard.is_none());
    assert_eq!(eth.addresses, vec![ip("fe80::42")]);
    assert_eq!(eth.scope.as_deref(), Some("eth1"));
    assert!(t.yaml.contains("address: \"fe80::42%eth1\""), "{}", t.yaml);
    let notes = t.notes.join("\n");
    assert!(
        notes.contains("`neighbor fe80::1234 interface wg-dn42`"),
        "{notes}"
    );
}

/// The result passes `config check`; the same peer unscoped does not.
#[test]
fn binary_imports_the_dn42_node_and_config_check_refuses_an_unscoped_link_local_peer() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.key");
    let yaml = dir.path().join("dn42.yaml");
    let d = |r: &str| data(r).display().to_string();
    let out = wgbgp(&[
        "import",
        "frr",
        "--key-file",
        key.to_str().unwrap(),
        &d("dn42/bgpd.conf"),
        &d("dn42/wg-dn42.conf"),
        &d("dn42/wg-kioubit.conf"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let imported = text(&out.stdout);
    std::fs::write(&yaml, &imported).unwrap();
    let check = wgbgp(&["config", "check", yaml.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}\n{imported}",
        text(&check.stderr)
    );

    let unscoped = imported.replace("\"fe80::42%eth1\"", "\"fe80::42\"");
    assert_ne!(unscoped, imported);
    std::fs::write(&yaml, &unscoped).unwrap();
    let check = wgbgp(&["config", "check", yaml.to_str().unwrap()]);
    assert!(!check.status.success(), "{unscoped}");
    let err = text(&check.stderr);
    assert!(err.contains("peers.peer-fe80--42.address"), "{err}");
    assert!(err.contains("fe80::42 needs an interface"), "{err}");
}

const DN42_NO_INTERFACE: &str = "\
router bgp 4242421234
 bgp router-id 172.20.1.1
 no bgp ebgp-requires-policy
 neighbor fe80::1234 remote-as 4242420000
exit
";

/// Without `neighbor X interface`, nothing says which tunnel a link-local
/// neighbor is on (every dn42 file has the same AllowedIPs): refused until
/// tied; with no tunnel at all the neighbor is lost, never written unscoped.
#[test]
fn a_link_local_neighbor_without_its_interface_is_tied_on_the_command_line_or_lost() {
    let text = std::fs::read_to_string(data("dn42/wg-dn42.conf")).unwrap();
    let err = untied(translate(DN42_NO_INTERFACE, &[wg("wg-dn42", None, &text)]).unwrap_err());
    assert!(err.contains("wg-dn42.conf: nothing ties it"), "{err}");
    assert!(err.contains("candidates: fe80::1234"), "{err}");
    assert!(err.contains("fe80::1234=wg-dn42.conf"), "{err}");

    let t = translate(
        DN42_NO_INTERFACE,
        &[wg("wg-dn42", Some("fe80::1234"), &text)],
    )
    .unwrap();
    let c = config(&t);
    let p = c.peers.values().next().unwrap();
    assert_eq!(p.interface(), Some("wg-dn42"));
    assert_eq!(p.link_local, Some("fe80::100".parse().unwrap()));

    let t = translate(DN42_NO_INTERFACE, &[]).unwrap();
    let lost: Vec<_> = t
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::Lost)
        .collect();
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!(lost[0].text, "neighbor fe80::1234");
    assert!(lost[0].why.contains("interface IFNAME"), "{}", lost[0].why);
    assert!(config(&t).peers.is_empty(), "{}", t.yaml);
}

/// A link-local Address that is not a /64 is said so; a second one, which
/// wgbgp would not put on the tunnel, is lost; a tunnel without one gets
/// the router-ID address, and the notes name it.
#[test]
fn the_tunnel_link_local_address_is_kept_and_what_is_not_is_said() {
    let bgpd = "router bgp 4242421234\n bgp router-id 172.20.1.1\n \
                no bgp ebgp-requires-policy\n \
                neighbor fe80::1234 remote-as 4242420000\n \
                neighbor fe80::1234 interface wg-x\nexit\n";
    let (two, _) = tunnel("Address = fe80::100/128, fe80::200/64\n", "");
    let t = translate(bgpd, &[wg("wg-x", None, &two)]).unwrap();
    let c = config(&t);
    assert_eq!(
        c.peers.values().next().unwrap().link_local,
        Some("fe80::100".parse().unwrap())
    );
    assert!(
        t.notes.join("\n").contains("as a /64, not a /128"),
        "{:?}",
        t.notes
    );
    let lost: Vec<&str> = t
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::Lost)
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(lost, ["Address = fe80::200/64"]);

    let (none, _) = tunnel("", "");
    let t = translate(bgpd, &[wg("wg-x", None, &none)]).unwrap();
    let c = config(&t);
    let p = c.peers.values().next().unwrap();
    assert_eq!(p.link_local, None);
    assert_eq!(
        c.tunnel_link_local(p),
        Some("fe80::ac14:101".parse().unwrap())
    );
    assert!(
        t.notes.join("\n").contains("fe80::ac14:101"),
        "{:?}",
        t.notes
    );
}

/// Host routes and AllowedIPs tie by the most specific entry; files given
/// in the "wrong" order still land right.
#[test]
fn files_are_tied_by_the_most_specific_route_or_by_endpoint_whatever_their_order() {
    let (a, _) = tunnel(
        "PostUp = ip route add 10.0.0.2/32 dev %i\n",
        "AllowedIPs = 10.0.0.0/8\n",
    );
    let (b, _) = tunnel("", "AllowedIPs = 10.0.0.1/32, fd00::/8\n");
    let t = translate(TWO, &[wg("wg-a", None, &a), wg("wg-b", None, &b)]).unwrap();
    assert_eq!(
        tunnels_of(&config(&t)),
        [
            (ip("10.0.0.1"), "wg-b".to_string()),
            (ip("10.0.0.2"), "wg-a".to_string())
        ]
    );

    // Sessions to the peers' underlay addresses: the Endpoint ties.
    let (a, _) = tunnel("", "Endpoint = 10.0.0.2:51820\n");
    let (b, _) = tunnel("", "Endpoint = 10.0.0.1:51820\n");
    let t = translate(TWO, &[wg("wg-a", None, &a), wg("wg-b", None, &b)]).unwrap();
    assert_eq!(
        tunnels_of(&config(&t)),
        [
            (ip("10.0.0.1"), "wg-b".to_string()),
            (ip("10.0.0.2"), "wg-a".to_string())
        ]
    );
    assert!(
        t.notes
            .iter()
            .any(|n| n.contains("10.0.0.2 is its Endpoint")),
        "{:?}",
        t.notes
    );
}

/// No order is ever taken for a tie: untied files, a file that covers two
/// neighbors and a neighbor claimed by two files are all refused, naming
/// the files and the candidates; `NEIGHBOR=FILE` settles each.
#[test]
fn untied_and_ambiguous_files_are_refused_until_tied_on_the_command_line() {
    let (a, ka) = tunnel("", "Endpoint = 192.0.2.1:51820\n");
    let (b, kb) = tunnel("", "");
    let err = untied(translate(TWO, &[wg("wg-a", None, &a), wg("wg-b", None, &b)]).unwrap_err());
    assert!(
        err.contains(
            "wg-a.conf: nothing ties it to one neighbor (no `neighbor X interface wg-a`; no \
             PostUp host route or AllowedIPs entry other than 0.0.0.0/0 and ::/0 covers a \
             neighbor; its Endpoint 192.0.2.1 is no neighbor's address); candidates: 10.0.0.1, \
             10.0.0.2"
        ),
        "{err}"
    );
    assert!(err.contains("wg-b.conf: nothing ties it"), "{err}");
    assert!(err.contains("NEIGHBOR=FILE"), "{err}");
    assert!(err.contains("10.0.0.1=wg-a.conf"), "{err}");

    // Tied: the other way round from file order.
    let t = translate(
        TWO,
        &[
            wg("wg-a", Some("10.0.0.2"), &a),
            wg("wg-b", Some("10.0.0.1"), &b),
        ],
    )
    .unwrap();
    let c = config(&t);
    let key_of = |addr: &str| {
        let p = c.peers.values().find(|p| p.address() == ip(addr)).unwrap();
        p.wireguard.as_ref().unwrap().public_key.clone()
    };
    assert_eq!((key_of("10.0.0.1"), key_of("10.0.0.2")), (kb, ka));

    // One file covering both neighbors.
    let (wide, _) = tunnel("", "AllowedIPs = 10.0.0.0/24\n");
    let err = untied(translate(TWO, &[wg("wg-a", None, &wide)]).unwrap_err());
    assert!(
        err.contains("wg-a.conf: tied to more than one neighbor"),
        "{err}"
    );
    assert!(err.contains("10.0.0.0/24 covers 10.0.0.1"), "{err}");
    assert!(err.contains("10.0.0.0/24 covers 10.0.0.2"), "{err}");

    // Two files claiming one neighbor.
    let (r1, _) = tunnel("PostUp = ip route add 10.0.0.1/32 dev %i\n", "");
    let err = untied(translate(TWO, &[wg("wg-a", None, &r1), wg("wg-b", None, &r1)]).unwrap_err());
    assert!(
        err.contains("neighbor 10.0.0.1 is tied to more than one file: wg-a.conf"),
        "{err}"
    );

    // The command line overrides a route, and names only known neighbors.
    let t = translate(
        TWO,
        &[wg("wg-a", Some("10.0.0.2"), &r1), wg("wg-b", None, &r1)],
    )
    .unwrap();
    assert_eq!(
        tunnels_of(&config(&t)),
        [
            (ip("10.0.0.1"), "wg-b".to_string()),
            (ip("10.0.0.2"), "wg-a".to_string())
        ]
    );
    let err = untied(translate(TWO, &[wg("wg-a", Some("10.9.9.9"), &a)]).unwrap_err());
    assert!(
        err.contains(
            "10.9.9.9=wg-a.conf: no neighbor 10.9.9.9 is translated (neighbors: \
                      10.0.0.1, 10.0.0.2)"
        ),
        "{err}"
    );
}

/// The seed's S1 has nothing but order to go by: the binary refuses,
/// writes no key and no configuration, and says how to tie the files.
#[test]
fn binary_refuses_to_guess_the_seed_tunnels_and_takes_neighbor_equals_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("private.key");
    let d = |r: &str| data(r).display().to_string();
    let (bgpd, wg0, wg1) = (d("s1/bgpd.conf"), d("s1/wg0.conf"), d("s1/wg1.conf"));
    let k = key.to_str().unwrap();
    let out = wgbgp(&["import", "frr", "--key-file", k, &bgpd, &wg0, &wg1]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(!key.exists(), "no key written on a refusal");
    let err = text(&out.stderr);
    for want in [
        format!("{wg0}: nothing ties it to one neighbor"),
        format!("{wg1}: nothing ties it to one neighbor"),
        "candidates: 2.2.2.2, 3.3.3.3".to_string(),
        format!("2.2.2.2={wg0}"),
    ] {
        assert!(err.contains(&want), "{want}: {err}");
    }
    // --allow-partial does not make it guess.
    let out = wgbgp(&["import", "frr", "--allow-partial", &bgpd, &wg0, &wg1]);
    assert!(!out.status.success() && out.stdout.is_empty());

    let out = wgbgp(&[
        "import",
        "frr",
        &bgpd,
        &format!("3.3.3.3={wg1}"),
        &format!("2.2.2.2={wg0}"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c = Config::from_str(&text(&out.stdout), "s1.yaml").unwrap();
    assert_eq!(
        tunnels_of(&c),
        [
            (ip("2.2.2.2"), "wg0".to_string()),
            (ip("3.3.3.3"), "wg1".to_string())
        ]
    );
}
