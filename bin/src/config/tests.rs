use super::*;

const S1: &str = include_str!("../../tests/data/s1.yaml");

/// S1 without the `interface: wg-s2` line.
fn without_interface() -> String {
    S1.lines()
        .filter(|l| !l.contains("interface: wg-s2"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::from_str(src, "s1.yaml")
}

/// Replaces `from` (which must occur once) by `to` in S1, expects an
/// error, and checks it names the line where `to` landed and `key`.
#[track_caller]
fn assert_bad(from: &str, to: &str, key: &str, what: &str) {
    assert_eq!(S1.matches(from).count(), 1, "fixture edit `{from}`");
    let src = S1.replacen(from, to, 1);
    let first = to.lines().next().unwrap_or(to);
    let line = src
        .lines()
        .position(|l| l.contains(first))
        .expect("edited line")
        + 1;
    let msg = parse(&src).expect_err("should be rejected").to_string();
    assert!(
        msg.contains(&format!("s1.yaml:{line}:")) || msg.contains(&format!("s1.yaml:{line} ")),
        "line {line} not in: {msg}"
    );
    assert!(msg.contains(key), "key `{key}` not in: {msg}");
    assert!(msg.contains(what), "`{what}` not in: {msg}");
}

#[test]
fn issue_example_parses_with_all_fields() {
    let c = parse(S1).unwrap();
    assert_eq!(c.router_id, Ipv4Addr::new(1, 1, 1, 1));
    assert_eq!(c.asn, 65500);
    assert_eq!(
        c.loopback,
        vec![
            "1.1.1.1/32".parse::<IpNet>().unwrap(),
            "fd00::1/128".parse().unwrap()
        ]
    );
    assert_eq!(c.control_socket, PathBuf::from("/run/wgbgp/wgbgp.sock"));
    assert_eq!(
        c.metrics.as_ref().unwrap().listen,
        "127.0.0.1:9179".parse().unwrap()
    );
    assert_eq!(
        c.kernel,
        KernelConfig {
            table: 254,
            metric: 20
        }
    );
    assert_eq!(c.wireguard.backend, WgBackend::Auto);
    assert_eq!(c.announce, vec!["198.19.0.1/32".parse::<IpNet>().unwrap()]);
    let s2 = &c.peers["s2"];
    assert_eq!(s2.asn, 65501);
    assert_eq!(s2.address(), "2.2.2.2".parse::<IpAddr>().unwrap());
    assert_eq!(s2.addresses.len(), 2);
    assert_eq!(s2.description.as_deref(), Some("S2"));
    assert_eq!(s2.local_address, "1.1.1.1".parse::<IpAddr>().unwrap());
    assert_eq!((s2.hold_time, s2.keepalive, s2.port), (90, 30, 179));
    assert!(!s2.passive && !s2.shutdown);
    let wg = s2.wireguard.as_ref().unwrap();
    assert_eq!(
        wg.public_key.to_base64(),
        "HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE="
    );
    assert_eq!(
        wg.endpoint,
        Some(Endpoint::Addr("10.2.0.2:51820".parse().unwrap()))
    );
    assert_eq!(wg.interface, "wg-s2");
    assert_eq!(
        (wg.listen_port, wg.persistent_keepalive, wg.mtu),
        (Some(51821), Some(25), Some(1420))
    );
    assert_eq!(s2.import, vec!["accept-all"]);
    let chain = c.policy_chain(&s2.export);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0].action, Action::Accept);
    assert!(chain[0].matches(&"198.19.0.1/32".parse().unwrap()));
    assert!(!chain[0].matches(&"198.18.0.1/32".parse().unwrap()));
    assert_eq!(chain[1].action, Action::Reject);
    assert!(chain[1].prefixes.is_empty());
}

#[test]
fn minimal_config_gets_defaults() {
    let c = parse(
        "router_id: 10.0.0.1\nasn: 4200000000\nloopback: 10.0.0.1\npeers:\n  \
         lan:\n    asn: 65001\n    address: 10.0.0.2\n    passive: true\n    \
         hold_time: 9\n",
    )
    .unwrap();
    assert_eq!(c.asn, 4_200_000_000);
    assert_eq!(c.control_socket, PathBuf::from(DEFAULT_CONTROL_SOCKET));
    assert_eq!(
        c.kernel,
        KernelConfig {
            table: 254,
            metric: 20
        }
    );
    assert_eq!(
        c.wireguard.private_key_file,
        PathBuf::from(DEFAULT_PRIVATE_KEY_FILE)
    );
    assert!(c.metrics.is_none() && c.policies.is_empty() && c.announce.is_empty());
    let p = &c.peers["lan"];
    assert!(p.wireguard.is_none() && p.passive);
    assert_eq!((p.hold_time, p.keepalive), (9, 3));
    assert!(p.import.is_empty() && p.export.is_empty());
}

#[test]
fn default_interface_is_wg_peer_name() {
    let c = parse(&without_interface()).unwrap();
    assert_eq!(c.peers["s2"].interface(), Some("wg-s2"));
}

#[test]
fn hostname_endpoints_are_kept() {
    let c = parse(&S1.replace("10.2.0.2:51820", "s2.example.net:51820")).unwrap();
    let ep = c.peers["s2"].wireguard.as_ref().unwrap().endpoint.clone();
    assert_eq!(
        ep,
        Some(Endpoint::Host {
            host: "s2.example.net".into(),
            port: 51820
        })
    );
    assert_eq!(
        Endpoint::parse("[fd00::2]:51820").unwrap(),
        Endpoint::Addr("[fd00::2]:51820".parse().unwrap())
    );
    assert!(Endpoint::parse("fd00::2:51820").is_err());
    assert!(Endpoint::parse("host:99999").is_err());
    assert!(Endpoint::parse("bad_host:1").is_err());
}

#[tokio::test]
async fn resolve_endpoints_resolves_addresses_and_localhost() {
    let c = parse(&S1.replace("10.2.0.2:51820", "localhost:51820")).unwrap();
    let r = c.resolve_endpoints().await.unwrap();
    assert!(r["s2"].ip().is_loopback());
    assert_eq!(r["s2"].port(), 51820);
}

#[test]
fn unknown_key_is_named_with_its_line() {
    assert_bad(
        "      mtu: 1420",
        "      mtux: 1420",
        "mtux",
        "unknown field",
    );
    assert_bad(
        "router_id: 1.1.1.1",
        "foo: 1\nrouter_id: 1.1.1.1",
        "foo",
        "unknown",
    );
}

#[test]
fn wrong_type_is_located() {
    assert_bad("    asn: 65501", "    asn: many", "peers.s2.asn", "");
}

#[test]
fn bad_prefixes_are_rejected() {
    assert_bad(
        "announce: [198.19.0.1/32]",
        "announce: [198.19.0.1/24]",
        "announce[0]",
        "host bits",
    );
    assert_bad(
        "    - match: { prefix: [198.19.0.0/16 le 32] }",
        "    - match: { prefix: [198.19.0.0/16 le 33] }",
        "policies.local-only[0].match.prefix",
        "le 33",
    );
}

#[test]
fn bad_addresses_are_rejected() {
    assert_bad(
        "router_id: 1.1.1.1",
        "router_id: 1.1.1",
        "router_id",
        "IPv4",
    );
    assert_bad(
        "    address: [2.2.2.2, \"fd00::2\"]",
        "    address: [2.2.2.2, \"fd00::zz\"]",
        "peers.s2.address",
        "fd00::zz",
    );
    assert_bad(
        "metrics: { listen: \"127.0.0.1:9179\" }",
        "metrics: { listen: \"127.0.0.1\" }",
        "metrics.listen",
        "IP:PORT",
    );
}

#[test]
fn bad_or_missing_public_key() {
    assert_bad(
        "      public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=",
        "      public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46x=",
        "peers.s2.wireguard.public_key",
        "base64 of 32 bytes",
    );
    // Missing: reported at the `wireguard:` line.
    let src = S1.replace(
        "      public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=\n",
        "",
    );
    let msg = parse(&src).unwrap_err().to_string();
    assert!(msg.contains("s1.yaml:16:"), "{msg}");
    assert!(
        msg.contains("peers.s2.wireguard.public_key: missing"),
        "{msg}"
    );
}

#[test]
fn asn_zero_is_rejected() {
    assert_bad("asn: 65500", "asn: 0", "asn", "ASN 0");
    assert_bad("    asn: 65501", "    asn: 0", "peers.s2.asn", "ASN 0");
}

#[test]
fn undefined_policy_is_rejected() {
    assert_bad(
        "    import: [accept-all]",
        "    import: [accept-al]",
        "peers.s2.import",
        "accept-al",
    );
}

#[test]
fn peer_family_needs_a_loopback() {
    let src = S1.replace(
        "loopback: [1.1.1.1/32, \"fd00::1/128\"]",
        "loopback: [1.1.1.1/32]",
    );
    let msg = parse(&src).unwrap_err().to_string();
    assert!(
        msg.contains(
            "s1.yaml:14: peers.s2.address: peer address fd00::2 is IPv6 but no IPv6 loopback"
        ),
        "{msg}"
    );
}

#[test]
fn interface_names_are_checked() {
    assert_bad(
        "      interface: wg-s2",
        "      interface: wg-0123456789abc",
        "peers.s2.wireguard.interface",
        "at most 15",
    );
    // The default name of a long peer name is too long.
    let src = without_interface().replace("  s2:\n", "  a-very-long-peer:\n");
    let msg = parse(&src).unwrap_err().to_string();
    assert!(
        msg.contains("s1.yaml:16: peers.a-very-long-peer.wireguard.interface"),
        "{msg}"
    );
    assert!(msg.contains("set `interface:`"), "{msg}");
}

/// S1 plus a peer `s3` with the given interface and listen port lines.
fn with_s3(ifname: &str, port: u16) -> String {
    let s3 = format!(
        "  s3:\n    asn: 65502\n    address: 3.3.3.3\n    wireguard:\n      \
         public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE=\n      \
         interface: {ifname}\n      listen_port: {port}\n"
    );
    S1.replace("policies:\n", &format!("{s3}policies:\n"))
}

#[test]
fn duplicate_interfaces_and_ports_are_rejected() {
    let msg = parse(&with_s3("wg-s2", 51822)).unwrap_err().to_string();
    assert!(
        msg.contains("s1.yaml:30: peers.s3.wireguard.interface"),
        "{msg}"
    );
    assert!(msg.contains("`wg-s2` is also used by peer `s2`"), "{msg}");
    let msg = parse(&with_s3("wg-s3", 51821)).unwrap_err().to_string();
    assert!(
        msg.contains("s1.yaml:31: peers.s3.wireguard.listen_port"),
        "{msg}"
    );
    assert!(msg.contains("51821 is also used by peer `s2`"), "{msg}");
    assert!(parse(&with_s3("wg-s3", 51822)).is_ok());
}

#[test]
fn timers_are_checked() {
    assert_bad(
        "    description: S2",
        "    hold_time: 2",
        "peers.s2.hold_time",
        "RFC 4271",
    );
    assert_bad(
        "    description: S2",
        "    keepalive: 90",
        "peers.s2.keepalive",
        "less than",
    );
}

#[test]
fn every_problem_is_reported() {
    let src = S1
        .replace("asn: 65500", "asn: 0")
        .replace("[accept-all]", "[nope]");
    match parse(&src).unwrap_err() {
        ConfigError::Invalid(d) => {
            assert_eq!(d.len(), 2);
            assert_eq!((d[0].line, d[0].key.as_str()), (Some(2), "asn"));
            assert_eq!(d[1].line, Some(23));
        }
        e => panic!("{e}"),
    }
}

#[test]
fn load_checks_the_key_file_directory() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("s1.yaml");
    let missing = dir.path().join("nodir/private.key");
    let src = S1.replace("/etc/wgbgp/private.key", missing.to_str().unwrap());
    std::fs::write(&cfg, &src).unwrap();
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains(":8: wireguard.private_key_file: directory"),
        "{msg}"
    );
    assert!(msg.contains("nodir"), "{msg}");

    // The file itself may be missing (it is generated)...
    let key = dir.path().join("private.key");
    let src = S1.replace("/etc/wgbgp/private.key", key.to_str().unwrap());
    std::fs::write(&cfg, &src).unwrap();
    assert!(Config::load(&cfg).is_ok());
    // ...but if present it must hold a key.
    std::fs::write(&key, "garbage\n").unwrap();
    assert!(
        Config::load(&cfg)
            .unwrap_err()
            .to_string()
            .contains("private key")
    );
    std::fs::write(&key, wireguard_control::Key::generate_private().to_base64()).unwrap();
    assert!(Config::load(&cfg).is_ok());

    let msg = Config::load(dir.path().join("absent.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.yaml: cannot read"), "{msg}");
}

#[test]
fn missing_required_field_is_named() {
    let msg = parse("router_id: 1.1.1.1\nasn: 1\n")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("s1.yaml:"), "{msg}");
    assert!(msg.contains("missing field `peers`"), "{msg}");
    assert!(!msg.contains(": asn:"), "{msg}");
    let msg = parse("router_id: 1.1.1.1\nasn: 1\npeers:\n  a:\n    address: 10.0.0.1\n")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing field `asn`"), "{msg}");
}

#[test]
fn syntax_error_is_located() {
    let msg = parse("router_id: 1.1.1.1\nasn: 1\npeers:\n  a:\n    address: [1.2.3.4\n")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("s1.yaml:5:"), "{msg}");
}

#[test]
fn duplicate_keys_are_rejected_at_the_key() {
    let src = "router_id: 1.1.1.1\nasn: 1\nloopback: 1.1.1.1\npeers:\n  \
               a: {asn: 2, address: 10.0.0.1}\n  a: {asn: 3, address: 10.0.0.2}\n";
    let msg = parse(src).unwrap_err().to_string();
    assert!(
        msg.starts_with("s1.yaml:6:3: peers.a: duplicate mapping key"),
        "{msg}"
    );
    assert!(!msg.contains("DuplicateKeyPolicy"), "{msg}");
}

#[test]
fn control_groups_resolve_or_are_refused_with_their_line() {
    let src = S1.replacen(
        "control_socket: /run/wgbgp/wgbgp.sock",
        "control_socket: /run/wgbgp/wgbgp.sock\ncontrol_group: root\ncontrol_admin_group: root",
        1,
    );
    let c = parse(&src).unwrap();
    assert_eq!(
        c.control_access,
        crate::control::Access {
            group: Some(0),
            admin_group: Some(0)
        }
    );
    assert_eq!(parse(S1).unwrap().control_access, Default::default());
    assert_bad(
        "control_socket: /run/wgbgp/wgbgp.sock",
        "control_group: no-such-group-wgbgp",
        "control_group",
        "no group `no-such-group-wgbgp` on this system",
    );
}

#[test]
fn max_as_path_len_is_optional_and_positive() {
    assert_eq!(parse(S1).unwrap().max_as_path_len, None);
    let src = S1.replacen("asn: 65500", "asn: 65500\nmax_as_path_len: 50", 1);
    assert_eq!(parse(&src).unwrap().max_as_path_len, Some(50));
    assert_bad(
        "asn: 65500",
        "max_as_path_len: 0\nasn: 65500",
        "max_as_path_len",
        "must be at least 1",
    );
}

#[test]
fn graceful_restart_helper_is_on_by_default_and_configurable() {
    let c = parse(S1).unwrap();
    assert_eq!(c.peers["s2"].graceful_restart, Some(DEFAULT_RESTART_TIME));
    let off = S1.replacen(
        "    description: S2\n",
        "    description: S2\n    graceful_restart: false\n",
        1,
    );
    assert_eq!(parse(&off).unwrap().peers["s2"].graceful_restart, None);
    let short = S1.replacen(
        "    description: S2\n",
        "    description: S2\n    graceful_restart: { restart_time: 5 }\n",
        1,
    );
    assert_eq!(parse(&short).unwrap().peers["s2"].graceful_restart, Some(5));
}

#[test]
fn graceful_restart_time_must_fit_12_bits() {
    assert_bad(
        "    description: S2\n",
        "    graceful_restart: { restart_time: 5000 }\n",
        "peers.s2.graceful_restart.restart_time",
        "at most 4095",
    );
}
