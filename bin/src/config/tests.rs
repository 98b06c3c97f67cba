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

/// The message refusing `src`.
#[track_caller]
fn parse_err(src: &str) -> String {
    parse(src).expect_err("should be rejected").to_string()
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
    let msg = parse_err(&src);
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
    assert_eq!(c.kernel, KernelConfig::default());
    // Linux's main table, and zebra's metric.
    assert_eq!((c.kernel.table, c.kernel.metric), (254, 20));
    assert_eq!(c.wireguard.backend, WgBackend::Auto);
    assert_eq!(c.announce, vec!["198.19.0.1/32".parse::<IpNet>().unwrap()]);
    let s2 = &c.peers["s2"];
    assert_eq!(s2.asn, PeerAs::Is(65501));
    assert_eq!(s2.address(), "2.2.2.2".parse::<IpAddr>().unwrap());
    assert_eq!(s2.addresses.len(), 2);
    assert_eq!(s2.description.as_deref(), Some("S2"));
    assert_eq!(s2.local_address, Some("1.1.1.1".parse::<IpAddr>().unwrap()));
    assert_eq!(
        (s2.multihop, s2.ttl(), s2.scope.as_deref()),
        (None, None, None)
    );
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
    assert!(chain[0].matches_prefix(&"198.19.0.1/32".parse().unwrap()));
    assert!(!chain[0].matches_prefix(&"198.18.0.1/32".parse().unwrap()));
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
    assert_eq!(c.kernel, KernelConfig::default());
    assert_eq!(
        c.wireguard.private_key_file,
        PathBuf::from(DEFAULT_PRIVATE_KEY_FILE)
    );
    assert!(c.metrics.is_none() && c.policies.is_empty() && c.announce.is_empty());
    let p = &c.peers["lan"];
    assert!(p.wireguard.is_none() && p.passive);
    assert_eq!((p.hold_time, p.keepalive), (9, 3));
    assert!(p.import.is_empty() && p.export.is_empty());
    assert!(!p.extended_next_hop, "off by default on an IPv4 session");
}

#[test]
fn extended_next_hop_defaults_on_for_ipv6_sessions_and_can_be_set() {
    let src = |addr: &str, extra: &str| {
        format!(
            "router_id: 10.0.0.1\nasn: 65000\nloopback: [10.0.0.1/32, \"fd00::1/128\"]\n\
             peers:\n  p:\n    asn: 65001\n    address: \"{addr}\"\n{extra}"
        )
    };
    let enh =
        |addr: &str, extra: &str| parse(&src(addr, extra)).unwrap().peers["p"].extended_next_hop;
    assert!(enh("fd00::2", ""));
    assert!(!enh("fd00::2", "    extended_next_hop: false\n"));
    assert!(!enh("10.0.0.2", ""));
    assert!(enh("10.0.0.2", "    extended_next_hop: true\n"));
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
    assert_bad(
        "    asn: 65501",
        "    asn: many",
        "peers.s2.asn",
        "`many` is no AS number",
    );
}

#[test]
fn a_peer_may_be_any_external_as_but_not_internal() {
    let cfg = Config::from_str(
        &S1.replacen("    asn: 65501", "    asn: external", 1),
        "t.yaml",
    );
    assert_eq!(cfg.unwrap().peers["s2"].asn, PeerAs::External);
    assert_bad(
        "    asn: 65501",
        "    asn: internal",
        "peers.s2.asn",
        "eBGP only",
    );
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
    let msg = parse_err(&src);
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
    let msg = parse_err(&src);
    assert!(
        msg.contains(
            "s1.yaml:14: peers.s2.address: peer address fd00::2 is IPv6 and the peer has a tunnel, but no IPv6 loopback"
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
    let msg = parse_err(&src);
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
    let msg = parse_err(&with_s3("wg-s2", 51822));
    assert!(
        msg.contains("s1.yaml:30: peers.s3.wireguard.interface"),
        "{msg}"
    );
    assert!(msg.contains("`wg-s2` is also used by peer `s2`"), "{msg}");
    let msg = parse_err(&with_s3("wg-s3", 51821));
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
    // ... readable by its owner only, as the start requires.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let msg = Config::load(&cfg).unwrap_err().to_string();
    assert!(
        msg.contains(":8: wireguard.private_key_file: ")
            && msg.contains("(mode 0644): run chmod 600"),
        "{msg}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Config::load(&cfg).is_ok());

    let msg = Config::load(dir.path().join("absent.yaml"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.yaml: cannot read"), "{msg}");
}

#[test]
fn missing_required_field_is_named() {
    let msg = parse_err("router_id: 1.1.1.1\nasn: 1\n");
    assert!(msg.starts_with("s1.yaml:"), "{msg}");
    assert!(msg.contains("missing field `peers`"), "{msg}");
    assert!(!msg.contains(": asn:"), "{msg}");
    let msg = parse_err("router_id: 1.1.1.1\nasn: 1\npeers:\n  a:\n    address: 10.0.0.1\n");
    assert!(msg.contains("missing field `asn`"), "{msg}");
}

#[test]
fn syntax_error_is_located() {
    let msg = parse_err("router_id: 1.1.1.1\nasn: 1\npeers:\n  a:\n    address: [1.2.3.4\n");
    assert!(msg.starts_with("s1.yaml:5:"), "{msg}");
}

#[test]
fn duplicate_keys_are_rejected_at_the_key() {
    let src = "router_id: 1.1.1.1\nasn: 1\nloopback: 1.1.1.1\npeers:\n  \
               a: {asn: 2, address: 10.0.0.1}\n  a: {asn: 3, address: 10.0.0.2}\n";
    let msg = parse_err(src);
    assert!(
        msg.starts_with("s1.yaml:6:3: peers.a: duplicate mapping key"),
        "{msg}"
    );
    assert!(!msg.contains("DuplicateKeyPolicy"), "{msg}");
}

/// S1 with named sets and a policy using every match and `set`.
const POLICY: &str = "\
prefix_sets:
  ours: [\"198.19.0.0/16 le 24\", \"fd00:198::/48 le 64\"]
community_sets:
  tagged: [\"65500:1\", \"65500:0:1\", no-export]
as_path_sets:
  transit: [174, 3356]
  s3-side: [65502]
";

const POLICY_RULES: &str = "
  tag-and-prefer:
    - match: { prefix_set: ours, origin_as: [65510, s3-side], as_path_len: { le: 4 }, peer: s2, afi: ipv4 }
      action: next
      set: { local_pref: 200, communities: { add: [\"65500:7\", \"65500:0:7\"], remove: [tagged] } }
    - match: { as_path_contains: transit, community: [\"65500:7\"], as_path_len: 3 }
      action: reject
    - match:
        community: tagged
      action: accept
      set:
        med: 10
        prepend: 2
        next_hop: 192.0.2.1
        communities: { replace: [] }
";

fn with_policy() -> String {
    format!("{S1}{POLICY}").replace("policies:\n", &format!("policies:\n{}", &POLICY_RULES[1..]))
}

#[test]
fn sets_are_expanded_into_the_rules() {
    let c = parse(&with_policy()).unwrap_or_else(|e| panic!("{e}"));
    let rules = &c.policies["tag-and-prefer"];
    assert_eq!(rules.len(), 3);
    let m = &rules[0].matches;
    assert_eq!(
        m.prefix_set.as_ref().unwrap().entries(),
        [
            "198.19.0.0/16 le 24".parse().unwrap(),
            "fd00:198::/48 le 64".parse().unwrap()
        ]
    );
    assert_eq!(m.origin_as, Some(vec![65502, 65510]));
    assert_eq!(m.as_path_len, Some((0, 4)));
    assert_eq!(m.peer, Some(vec!["s2".to_string()]));
    assert_eq!(m.afi, Some(bgp::wire::Afi::Ipv4));
    assert_eq!(rules[0].action, Action::Next);
    let set = rules[0].set.as_ref().unwrap();
    assert_eq!(set.local_pref, Some(200));
    assert_eq!(set.communities.add.standard.len(), 1);
    assert_eq!(set.communities.add.large.len(), 1);
    assert_eq!(
        set.communities.remove.standard.len(),
        2,
        "65500:1 and no-export"
    );
    assert_eq!(set.communities.remove.large.len(), 1);
    let m = &rules[1].matches;
    assert_eq!(m.as_path_contains, Some(vec![174, 3356]));
    assert_eq!(m.as_path_len, Some((3, 3)));
    let set = rules[2].set.as_ref().unwrap();
    assert_eq!((set.med, set.prepend), (Some(10), 2));
    assert_eq!(set.next_hop, Some("192.0.2.1".parse().unwrap()));
    assert_eq!(set.communities.replace, Some(Default::default()));
    assert_eq!(
        rules[2].matches.community.as_ref().unwrap().standard.len(),
        2
    );
}

/// Like `assert_bad` on the policy example.
#[track_caller]
fn assert_bad_policy(from: &str, to: &str, key: &str, what: &str) {
    let base = with_policy();
    assert_eq!(base.matches(from).count(), 1, "fixture edit `{from}`");
    let src = base.replacen(from, to, 1);
    // The first line the edit adds.
    let added = to.lines().find(|l| !from.contains(l)).unwrap();
    let line = src.lines().position(|l| l.contains(added)).unwrap() + 1;
    let msg = parse_err(&src);
    assert!(
        msg.contains(&format!("s1.yaml:{line}:")) && msg.contains(&format!(" {key}: ")),
        "line {line} key {key} not in: {msg}"
    );
    assert!(msg.contains(what), "`{what}` not in: {msg}");
}

#[test]
fn undefined_set_names_are_rejected() {
    assert_bad_policy(
        "prefix_set: ours,",
        "prefix_set: theirs,",
        "policies.tag-and-prefer[0].match.prefix_set",
        "`theirs` is not defined under prefix_sets:",
    );
    assert_bad_policy(
        "remove: [tagged]",
        "remove: [tagd]",
        "policies.tag-and-prefer[0].set.communities.remove",
        "`tagd` is not a community and not defined under community_sets:",
    );
    assert_bad_policy(
        "as_path_contains: transit,",
        "as_path_contains: [1, transt],",
        "policies.tag-and-prefer[1].match.as_path_contains",
        "`transt` is not an ASN and not defined under as_path_sets:",
    );
    assert_bad_policy(
        "peer: s2,",
        "peer: s9,",
        "policies.tag-and-prefer[0].match.peer",
        "`s9` is not a peer under peers:",
    );
}

#[test]
fn bad_policy_values_are_rejected() {
    assert_bad_policy(
        "community: [\"65500:7\"]",
        "community: [\"65536:7\"]",
        "policies.tag-and-prefer[1].match.community",
        "bad community: `65536:7`: 65536 does not fit in 16 bits",
    );
    assert_bad_policy(
        "  tagged: [\"65500:1\", \"65500:0:1\", no-export]",
        "  tagged: [\"65500:1\", \"65500:x:1\"]",
        "community_sets.tagged[1]",
        "bad community: `65500:x:1` is not a community",
    );
    assert_bad_policy(
        "  ours: [\"198.19.0.0/16 le 24\", \"fd00:198::/48 le 64\"]",
        "  ours: [\"198.19.0.1/16 le 24\"]",
        "prefix_sets.ours[0]",
        "did you mean 198.19.0.0/16",
    );
    assert_bad_policy(
        "as_path_len: { le: 4 }",
        "as_path_len: { ge: 5, le: 4 }",
        "policies.tag-and-prefer[0].match.as_path_len",
        "ge 5 is greater than le 4",
    );
    assert_bad_policy(
        "        prepend: 2",
        "        prepend: 0",
        "policies.tag-and-prefer[2].set.prepend",
        "prepend 0 must be 1..=32",
    );
    assert_bad_policy(
        "        next_hop: 192.0.2.1",
        "        next_hop: 224.0.0.1",
        "policies.tag-and-prefer[2].set.next_hop",
        "a unicast IP address",
    );
    assert_bad_policy(
        "  transit: [174, 3356]",
        "  transit: []",
        "as_path_sets.transit",
        "must not be empty",
    );
}

#[test]
fn set_table_is_parsed_and_named_for_purging() {
    let src = with_policy()
        .replacen(
            "        prepend: 2",
            "        prepend: 2\n        table: 100",
            1,
        )
        .replace("    import: [accept-all]", "    import: [tag-and-prefer]");
    let cfg = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let set = cfg.policies["tag-and-prefer"][2].set.as_ref().unwrap();
    assert_eq!(set.table, Some(100));
    assert_eq!(
        cfg.policy_tables().into_iter().collect::<Vec<_>>(),
        vec![100]
    );
    // 254 is main, the default kernel.table: allowed, nothing extra to purge.
    let src = with_policy().replacen(
        "        prepend: 2",
        "        prepend: 2\n        table: 254",
        1,
    );
    let cfg = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.policy_tables().is_empty());
}

#[test]
fn reserved_tables_are_refused() {
    for t in [0, 253, 255] {
        assert_bad_policy(
            "        prepend: 2",
            &format!("        prepend: 2\n        table: {t}"),
            "policies.tag-and-prefer[2].set.table",
            &format!("table {t} is reserved"),
        );
    }
    assert_bad_policy(
        "        prepend: 2",
        "        prepend: 2\n        table: 4294967296",
        "policies.tag-and-prefer[2].set.table",
        "",
    );
}

#[test]
fn set_table_on_export_is_refused() {
    let src = with_policy()
        .replacen(
            "        prepend: 2",
            "        prepend: 2\n        table: 100",
            1,
        )
        .replace("    export: [local-only]", "    export: [tag-and-prefer]");
    let msg = parse_err(&src);
    assert!(
        msg.contains(
            "peers.s2.export: policy `tag-and-prefer` sets table, which chooses where \
             a received route is installed; use it on import"
        ),
        "{msg}"
    );
}

#[test]
fn set_on_a_reject_rule_is_refused() {
    assert_bad_policy(
        "      action: reject\n    - match:\n        community: tagged",
        "      action: reject\n      set: { med: 1 }\n    - match:\n        community: tagged",
        "policies.tag-and-prefer[1].set",
        "has no effect with `action: reject`",
    );
}

#[test]
fn local_pref_on_export_is_refused() {
    let src = with_policy().replace("    export: [local-only]", "    export: [tag-and-prefer]");
    let msg = parse_err(&src);
    let line = src
        .lines()
        .position(|l| l.contains("export: [tag-and-prefer]"))
        .unwrap()
        + 1;
    assert!(
        msg.contains(&format!(
            "s1.yaml:{line}: peers.s2.export: policy `tag-and-prefer` sets local_pref"
        )),
        "{msg}"
    );
    assert!(msg.contains("RFC 4271 §5.1.5"), "{msg}");
    // As import it is what local_pref is for.
    let src = with_policy().replace("    import: [accept-all]", "    import: [tag-and-prefer]");
    parse(&src).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn unknown_set_and_match_keys_are_named() {
    assert_bad_policy(
        "        med: 10",
        "        colour: red",
        "policies.tag-and-prefer[2].set.colour",
        "unknown field `colour`",
    );
    assert_bad_policy(
        "afi: ipv4 }",
        "afi: ipv5 }",
        "policies.tag-and-prefer[0].match.afi",
        "ipv5",
    );
}

#[test]
fn readme_configuration_example_is_valid() {
    let readme = include_str!("../../../README.md");
    let section = &readme[readme.find("## Configuration").unwrap()..];
    let start = section.find("```yaml\n").unwrap() + "```yaml\n".len();
    let yaml = &section[start..start + section[start..].find("```").unwrap()];
    let c = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    let rules = &c.policies["from-s2"];
    assert_eq!(rules[0].matches.as_path_contains, Some(vec![174, 3356]));
    assert_eq!(rules[1].action, Action::Next);
    assert_eq!(rules[2].set.as_ref().unwrap().local_pref, Some(200));
}

#[test]
fn as_path_len_syntax_is_explained() {
    assert_bad_policy(
        "as_path_len: { le: 4 }",
        "as_path_len: \"<= 4\"",
        "policies.tag-and-prefer[0].match.as_path_len",
        "expected a length N or {ge: N, le: M}",
    );
    assert_bad_policy(
        "as_path_len: { le: 4 }",
        "as_path_len: { lt: 4 }",
        "policies.tag-and-prefer[0].match.as_path_len.lt",
        "unknown field `lt`",
    );
}

#[test]
fn control_groups_are_names_checked_for_syntax_only() {
    let src = S1.replacen(
        "control_socket: /run/wgbgp/wgbgp.sock",
        "control_socket: /run/wgbgp/wgbgp.sock\ncontrol_group: root\ncontrol_admin_group: no-such-group-wgbgp",
        1,
    );
    let c = parse(&src).unwrap();
    let name = |g: &Option<GroupName>| g.as_ref().map(|g| g.as_str().to_string());
    assert_eq!(name(&c.control_groups.group).as_deref(), Some("root"));
    // Whether a group exists is checked against the host (crate::host), not here.
    assert_eq!(
        name(&c.control_groups.admin_group).as_deref(),
        Some("no-such-group-wgbgp")
    );
    assert_eq!(parse(S1).unwrap().control_groups, Default::default());
    assert_bad(
        "control_socket: /run/wgbgp/wgbgp.sock",
        "control_group: \"adm:in\"",
        "control_group",
        "bad group name: `adm:in` is not a group name",
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

#[test]
fn kernel_rules_parse_by_family_and_want_the_underlay_rules_first() {
    use rib::kernel::rules::Family;
    let src = S1.replace(
        "kernel: { table: 254, metric: 20 }",
        "kernel:\n  fwmark: 0x1234\n  underlay_table: 200\n  rules:\n    \
         - { from: 10.0.1.0/24, table: 100, priority: 1000 }\n    \
         - { to: \"2001:db8::/32\", iif: eth1, table: 101, priority: 1001 }\n    \
         - { fwmark: 7, table: 102, priority: 1002 }",
    );
    let k = parse(&src).unwrap().kernel;
    assert_eq!((k.fwmark, k.underlay_table), (0x1234, 200));
    let fams: Vec<(Family, u32)> = k.rules.iter().map(|r| (r.family, r.table)).collect();
    assert_eq!(
        fams,
        vec![
            (Family::V4, 100),
            (Family::V6, 101),
            (Family::V4, 102),
            (Family::V6, 102)
        ]
    );
    assert_eq!(k.rules[0].from, Some("10.0.1.0/24".parse().unwrap()));
    assert_eq!(k.rules[1].iif.as_deref(), Some("eth1"));
    let wanted = k.wanted_rules();
    assert_eq!(wanted.len(), 6);
    assert!(wanted[..2].iter().all(|r| r.fwmark == Some(0x1234)
        && r.table == 200
        && r.priority == DEFAULT_UNDERLAY_PRIORITY));

    // fwmark 0: no underlay rules.
    let off = S1.replace(
        "kernel: { table: 254, metric: 20 }",
        "kernel: { fwmark: 0 }",
    );
    assert!(parse(&off).unwrap().kernel.wanted_rules().is_empty());
}

#[test]
fn bad_kernel_rules_are_located() {
    let kernel = "kernel: { table: 254, metric: 20 }";
    let rules = |rule: &str| format!("kernel: {{ rules: [ {rule} ] }}");
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/33, table: 100, priority: 1 }"),
        "kernel.rules[0].from",
        "bad prefix",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.1/24, table: 100, priority: 1 }"),
        "kernel.rules[0].from",
        "host bits",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/24, table: 255, priority: 1 }"),
        "kernel.rules[0].table",
        "reserved",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/24, table: 0, priority: 1 }"),
        "kernel.rules[0].table",
        "reserved",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/24, priority: 1 }"),
        "kernel.rules[0]",
        "missing table",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/24, table: 100 }"),
        "kernel.rules[0]",
        "missing priority",
    );
    assert_bad(
        kernel,
        &rules("{ from: 10.0.1.0/24, to: \"fd00::/8\", table: 100, priority: 1 }"),
        "kernel.rules[0].to",
        "different address families",
    );
    assert_bad(
        kernel,
        &rules("{ iif: \"a/b\", table: 100, priority: 1 }"),
        "kernel.rules[0].iif",
        "a/b",
    );
    assert_bad(
        kernel,
        &rules("{ table: 100, priority: 1, oif: x }"),
        "oif",
        "unknown field",
    );
    assert_bad(
        kernel,
        "kernel: { underlay_table: 254 }",
        "kernel.underlay_table",
        "must differ",
    );
}

#[test]
fn top_level_graceful_restart_makes_us_a_restarting_speaker() {
    assert_eq!(parse(S1).unwrap().local_restart, None);
    let on = S1.replacen("asn: 65500", "asn: 65500\ngraceful_restart: true", 1);
    assert_eq!(
        parse(&on).unwrap().local_restart,
        Some(LocalRestartConfig {
            select_defer_time: DEFAULT_SELECT_DEFER_TIME
        })
    );
    let short = S1.replacen(
        "asn: 65500",
        "asn: 65500\ngraceful_restart: { select_defer_time: 15 }",
        1,
    );
    assert_eq!(
        parse(&short).unwrap().local_restart,
        Some(LocalRestartConfig {
            select_defer_time: 15
        })
    );
    let off = S1.replacen("asn: 65500", "asn: 65500\ngraceful_restart: false", 1);
    assert_eq!(parse(&off).unwrap().local_restart, None);
    let zero = S1.replacen(
        "asn: 65500",
        "asn: 65500\ngraceful_restart: { select_defer_time: 0 }",
        1,
    );
    let e = parse_err(&zero);
    assert!(e.contains("graceful_restart.select_defer_time"), "{e}");
}

#[test]
fn soft_reconfiguration_inbound_is_off_by_default_and_the_only_value() {
    let c = parse(S1).unwrap();
    assert!(!c.peers["s2"].soft_reconfiguration_inbound);
    let on = S1.replacen(
        "    description: S2\n",
        "    description: S2\n    soft_reconfiguration: inbound\n",
        1,
    );
    assert!(parse(&on).unwrap().peers["s2"].soft_reconfiguration_inbound);
    assert_bad(
        "    description: S2\n",
        "    soft_reconfiguration: outbound\n",
        "soft_reconfiguration",
        "inbound",
    );
}

#[test]
fn keep_on_exit_is_off_by_default() {
    assert!(!parse(S1).unwrap().wireguard.keep_on_exit);
    let on = S1.replacen(
        "  private_key_file: /etc/wgbgp/private.key\n",
        "  private_key_file: /etc/wgbgp/private.key\n  keep_on_exit: true\n",
        1,
    );
    assert!(parse(&on).unwrap().wireguard.keep_on_exit);
}

#[test]
fn as_path_regexes_and_community_wildcards() {
    let base = with_policy();
    let src = base
        .replace(
            "  s3-side: [65502]\n",
            "  s3-side: [65502]\n  from-65001: [\"_65001$\", \"^65002_\", 7]\n",
        )
        .replace(
            "tagged: [\"65500:1\", \"65500:0:1\", no-export]",
            "tagged: [\"65500:1\", \"65500:0:1\", no-export, \"65001:*\", \"*:*:9\"]",
        )
        .replace(
            "as_path_len: 3 }",
            "as_path_len: 3, as_path: [from-65001, \"_174_\"] }",
        );
    let c = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    let rules = &c.policies["tag-and-prefer"];
    let res: Vec<&str> = (rules[1].matches.as_path.as_ref().unwrap().iter())
        .map(|r| r.as_str())
        .collect();
    assert_eq!(res, ["_65001$", "^65002_", "_7_", "_174_"]);
    let wild = &rules[2].matches.community.as_ref().unwrap().patterns;
    assert_eq!(wild.len(), 2);
    assert_eq!(wild[0].to_string(), "65001:*");
    assert_eq!(
        rules[0].set.as_ref().unwrap().communities.remove.patterns,
        *wild
    );

    // Errors name the key: a bad expression, an undefined set, a wildcard
    // added, an expression set used as ASNs.
    let bad = |from: &str, to: &str| {
        let text = src.replacen(from, to, 1);
        assert_ne!(text, src, "fixture edit `{from}`");
        parse_err(&text)
    };
    let msg = bad("\"_65001$\"", "\"_(65001$\"");
    assert!(
        msg.contains(" as_path_sets.from-65001[0]: `_(65001$` is not a valid AS-path regular"),
        "{msg}"
    );
    let msg = bad("as_path: [from-65001,", "as_path: [from-6501,");
    assert!(
        msg.contains("match.as_path: `from-6501` is not an AS-path regular expression and not defined under as_path_sets:"),
        "{msg}"
    );
    let msg = bad("add: [\"65500:7\",", "add: [\"65500:*\",");
    assert!(
        msg.contains("set.communities.add: the wildcard 65500:* can only be matched or removed"),
        "{msg}"
    );
    let msg = bad(
        "as_path_contains: transit,",
        "as_path_contains: from-65001,",
    );
    assert!(
        msg.contains("as_path_sets.from-65001 holds regular expressions"),
        "{msg}"
    );
    let msg = bad("\"*:*:9\"", "\"*:70000\"");
    assert!(
        msg.contains("community_sets.tagged[4]: bad community: `*:70000`"),
        "{msg}"
    );
}

#[test]
fn bfd_defaults_to_frr_timers_and_takes_interval_and_multiplier() {
    let src = |extra: &str| {
        format!(
            "router_id: 10.0.0.1\nasn: 65000\nloopback: [10.0.0.1/32]\n\
             peers:\n  p:\n    asn: 65001\n    address: 10.0.0.2\n{extra}"
        )
    };
    let bfd = |extra: &str| parse(&src(extra)).unwrap().peers["p"].bfd;
    assert_eq!(bfd(""), None);
    assert_eq!(bfd("    bfd: false\n"), None);
    assert_eq!(
        bfd("    bfd: true\n"),
        Some(Bfd {
            interval_ms: 300,
            multiplier: 3
        })
    );
    assert_eq!(
        bfd("    bfd: { interval_ms: 100, multiplier: 5 }\n"),
        Some(Bfd {
            interval_ms: 100,
            multiplier: 5
        })
    );
    for (bad, key, what) in [
        (
            "{ interval_ms: 5 }",
            "peers.p.bfd.interval_ms",
            "outside 10 to 60000",
        ),
        ("{ multiplier: 1 }", "peers.p.bfd.multiplier", "below 2"),
    ] {
        let msg = parse(&src(&format!("    bfd: {bad}\n")))
            .expect_err(bad)
            .to_string();
        assert!(msg.contains(key) && msg.contains(what), "{msg}");
    }
}

#[test]
fn limits_default_and_override_per_peer() {
    let src = |top: &str, extra: &str| {
        format!(
            "router_id: 10.0.0.1\nasn: 65000\nloopback: 10.0.0.1/32\n{top}\
             peers:\n  p:\n    asn: 65001\n    address: 10.0.0.2\n{extra}"
        )
    };
    let limits = |top: &str, extra: &str| parse(&src(top, extra)).unwrap().peers["p"].limits;
    let d = limits("", "");
    assert!(d.guard.reject_default_route && !d.guard.reject_bogons);
    assert_eq!(d.max_adj_rib_in_mib, None);
    let l = limits("reject_bogons: true\nreject_default_route: false\n", "");
    assert!(l.guard.reject_bogons && !l.guard.reject_default_route);
    let l = limits("reject_bogons: true\n", "    reject_bogons: false\n");
    assert!(!l.guard.reject_bogons, "the peer's own value wins");
    let m = limits("", "    max_adj_rib_in_mib: 64\n")
        .max_adj_rib_in_mib
        .unwrap();
    assert_eq!((m.limit, m.action), (64, MaxPrefixAction::Restart));
    let m = limits("", "    max_adj_rib_in_mib: { limit: 8, action: warn }\n")
        .max_adj_rib_in_mib
        .unwrap();
    assert_eq!((m.limit, m.action), (8, MaxPrefixAction::Warn));
    assert!(parse(&src("", "    max_adj_rib_in_mib: lots\n")).is_err());
}

#[test]
fn startup_hold_time_defaults_to_four_minutes_and_is_at_least_three_seconds() {
    assert_eq!(parse(S1).unwrap().peers["s2"].startup_hold_time, 240);
    let short = S1.replacen(
        "    description: S2\n",
        "    description: S2\n    startup_hold_time: 5\n",
        1,
    );
    assert_eq!(parse(&short).unwrap().peers["s2"].startup_hold_time, 5);
    assert_bad(
        "    description: S2\n",
        "    startup_hold_time: 2\n",
        "startup_hold_time",
        "at least 3",
    );
}

#[test]
fn max_prefix_and_max_adj_rib_in_mib_share_their_defaults() {
    let peer = |extra: &str| {
        let src = format!(
            "router_id: 10.0.0.1\nasn: 65000\nloopback: 10.0.0.1/32\n\
             peers:\n  p:\n    asn: 65001\n    address: 10.0.0.2\n{extra}"
        );
        parse(&src).unwrap().peers["p"].clone()
    };
    assert_eq!(peer("").max_prefix, None);
    let defaults = MaxPrefix {
        limit: 100,
        action: MaxPrefixAction::Restart,
        restart_after: DEFAULT_MAX_PREFIX_RESTART,
    };
    assert_eq!(peer("    max_prefix: 100\n").max_prefix, Some(defaults));
    assert_eq!(
        peer("    max_prefix: { limit: 100 }\n").max_prefix,
        Some(defaults)
    );
    assert_eq!(
        peer("    max_adj_rib_in_mib: 100\n")
            .limits
            .max_adj_rib_in_mib,
        Some(defaults)
    );
    let set = peer("    max_prefix: { limit: 5, action: warn, restart_after: 30 }\n");
    assert_eq!(
        set.max_prefix,
        Some(MaxPrefix {
            limit: 5,
            action: MaxPrefixAction::Warn,
            restart_after: 30
        })
    );
}

/// A config with `peers.p` written as `peer` (indented by four spaces).
fn with_peer(loopback: &str, peer: &str) -> String {
    format!(
        "router_id: 10.0.0.1\nasn: 65000\nloopback: {loopback}\npeers:\n  p:\n    asn: 64999\n{peer}"
    )
}

#[test]
fn a_plain_peer_on_a_link_needs_no_loopback() {
    // A provider's side of a /30, and no loopback at all.
    let c = parse(&with_peer("[]", "    address: 10.255.1.1\n")).unwrap();
    let p = &c.peers["p"];
    assert_eq!(p.local_address, None, "the kernel picks the source");
    assert_eq!(p.ttl(), Some(1), "a directly connected eBGP peer");
    // IPv6 only, with an explicit source.
    let c = parse(&with_peer(
        "[]",
        "    address: \"2001:db8:1::1\"\n    local_address: \"2001:db8:1::2\"\n",
    ))
    .unwrap();
    assert_eq!(
        c.peers["p"].local_address,
        Some("2001:db8:1::2".parse().unwrap())
    );
}

#[test]
fn multihop_sets_the_ttl_and_excludes_ttl_security() {
    let src = with_peer(
        "[]",
        "    address: 169.254.169.254\n    multihop: 2\n    password: s3cret\n",
    );
    let p = &parse(&src).unwrap().peers["p"];
    assert_eq!((p.multihop, p.ttl()), (Some(2), Some(2)));
    let msg = parse_err(&with_peer(
        "[]",
        "    address: 192.0.2.1\n    multihop: 2\n    ttl_security: true\n",
    ));
    assert!(
        msg.contains("peers.p.multihop: multihop and ttl_security"),
        "{msg}"
    );
    let msg = parse_err(&with_peer(
        "[]",
        "    address: 192.0.2.1\n    multihop: 0\n",
    ));
    assert!(
        msg.contains("peers.p.multihop: multihop must be 1 to 255"),
        "{msg}"
    );
}

#[test]
fn a_tunnel_peer_still_needs_a_loopback_or_a_source() {
    let wg = "    wireguard: { public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE= }\n";
    let msg = parse_err(&with_peer("[]", &format!("    address: 2.2.2.2\n{wg}")));
    assert!(
        msg.contains("peers.p.address: peer address 2.2.2.2 is IPv4 and the peer has a tunnel"),
        "{msg}"
    );
    let src = with_peer(
        "[]",
        &format!("    address: 2.2.2.2\n    local_address: 1.1.1.1\n{wg}"),
    );
    assert_eq!(
        parse(&src).unwrap().peers["p"].ttl(),
        None,
        "one tunnel hop: the system TTL"
    );
}

#[test]
fn a_link_local_session_over_a_tunnel_is_scoped_to_it() {
    let wg = "    wireguard: { public_key: HRyEEQXB02irTFUQwtSoe0zqoNftss8IifFJFKZ46xE= }\n";
    // dn42: no loopback needed; our link-local derived from the router ID.
    let c = parse(&with_peer("[]", &format!("    address: \"fe80::1\"\n{wg}"))).unwrap();
    let p = &c.peers["p"];
    assert_eq!(p.scope.as_deref(), Some("wg-p"));
    assert_eq!(p.session_interface(), Some("wg-p"));
    assert_eq!(p.local_address, None);
    assert!(
        p.extended_next_hop,
        "IPv4 routes over IPv6 next hops (RFC 8950)"
    );
    assert_eq!(c.tunnel_link_local(p), Some("fe80::a00:1".parse().unwrap()));
    // `link_local` and a `%IFNAME` naming the tunnel itself.
    let c = parse(&with_peer(
        "[]",
        &format!("    address: \"fe80::1%wg-p\"\n    link_local: \"fe80::2\"\n{wg}"),
    ))
    .unwrap();
    assert_eq!(
        c.tunnel_link_local(&c.peers["p"]),
        Some("fe80::2".parse().unwrap())
    );
    let msg = parse_err(&with_peer(
        "[]",
        &format!("    address: \"fe80::1%eth0\"\n{wg}"),
    ));
    assert!(
        msg.contains("scoped to `eth0` but runs over the peer's tunnel `wg-p`"),
        "{msg}"
    );
    let msg = parse_err(&with_peer(
        "[]",
        &format!("    address: \"fe80::1\"\n    link_local: \"fd00::2\"\n{wg}"),
    ));
    assert!(msg.contains("peers.p.link_local"), "{msg}");
}

#[test]
fn a_plain_link_local_peer_needs_its_interface() {
    let msg = parse_err(&with_peer("[]", "    address: \"fe80::1\"\n"));
    assert!(
        msg.contains("link-local address fe80::1 needs an interface: write fe80::1%IFNAME"),
        "{msg}"
    );
    let c = parse(&with_peer("[]", "    address: \"fe80::1%eth0\"\n")).unwrap();
    assert_eq!(c.peers["p"].scope.as_deref(), Some("eth0"));
    assert_eq!(c.peers["p"].address(), "fe80::1".parse::<IpAddr>().unwrap());
    let msg = parse_err(&with_peer("[]", "    address: \"2001:db8::1%eth0\"\n"));
    assert!(msg.contains("not link-local"), "{msg}");
    let msg = parse_err(&with_peer(
        "[]",
        "    address: \"fe80::1%eth0\"\n    link_local: \"fe80::2\"\n",
    ));
    assert!(
        msg.contains("link_local is the address wgbgp puts on the peer's tunnel"),
        "{msg}"
    );
}

#[test]
fn one_link_local_address_may_be_a_peer_on_each_interface() {
    let src = "router_id: 10.0.0.1\nasn: 65000\npeers:\n  \
               a: { asn: 64998, address: \"fe80::1%eth0\" }\n  \
               b: { asn: 64999, address: \"fe80::1%eth1\" }\n";
    assert!(parse(src).is_ok());
    let msg = parse_err(&src.replace("eth1", "eth0"));
    assert!(msg.contains("fe80::1"), "{msg}");
}

#[test]
fn enforce_first_as_is_on_unless_turned_off_for_a_route_server() {
    let on = Config::from_str(S1, "t.yaml").unwrap();
    assert!(on.peers["s2"].limits.enforce_first_as);
    let src = S1.replacen(
        "    asn: 65501\n",
        "    asn: 65501\n    enforce_first_as: false\n",
        1,
    );
    let off = Config::from_str(&src, "t.yaml").unwrap();
    assert!(!off.peers["s2"].limits.enforce_first_as);
}

#[test]
fn nexthop_objects_is_off_unless_asked_and_must_be_a_boolean() {
    assert!(!parse(S1).unwrap().kernel.nexthop_objects);
    let on = S1.replacen("metric: 20 }", "metric: 20, nexthop_objects: true }", 1);
    assert!(parse(&on).unwrap().kernel.nexthop_objects);
    assert_bad(
        "kernel: { table: 254, metric: 20 }",
        "kernel: { table: 254, metric: 20, nexthop_objects: maybe }",
        "nexthop_objects",
        "",
    );
}
