//! An edge node with every kind of session at once (issue 14): a provider
//! on a plain link (BIRD), two sites behind their own tunnels, loopback to
//! loopback (wgbgpd), and a dn42-style link-local session over WireGuard
//! (BIRD, `neighbor fe80::e%wg… as …`, `extended next hop on`).
//!
//! ```text
//!                 P: BIRD, AS 64999, 45.0.0.0/24 … (lo 45.0.0.1)
//!                      | v0 10.255.5.1/30
//!                      | v0 10.255.5.2/30 (plain, no loopback needed)
//!   S1 wgbgpd ==wg== E: wgbgpd AS 65500, lo 10.0.0.1 ==wg (fe80::e <-> fe80::d)== D: BIRD
//!   lo 10.0.0.11     |                                                          AS 4242420001
//!   10.100.1.0/24   wg                                                          172.20.0.0/24
//!                    S2 wgbgpd, lo 10.0.0.12, 10.100.2.0/24
//! ```
//!
//! The sites learn the provider's routes through the edge and reach the
//! provider's address from their own prefix; the edge installs D's IPv4
//! route `via inet6 fe80::d dev wg…`.

use std::time::Duration;

use integration::{
    Bird, Config, HandTunnel, Keys, Netns, Peer, Tunnel, WgKey, Wgbgpd, ifname, link, require_root,
};

const T: Duration = Duration::from_secs(40);

const PROVIDER: &str = r#"router id 10.255.5.1;
protocol device { scan time 1; }
protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol static s4 {
    ipv4;
    route 45.0.0.0/24 unreachable;
    route 45.0.1.0/24 unreachable;
    route 45.0.2.0/24 unreachable;
}
protocol bgp edge {
    local 10.255.5.1 as 64999;
    neighbor 10.255.5.2 as 65500;
    connect retry time 2;
    error wait time 1, 5;
    ipv4 { import all; export where proto = "s4"; };
}
"#;

fn dn42_bird(wg_if: &str) -> String {
    format!(
        r#"router id 10.71.3.2;
protocol device {{ scan time 1; }}
protocol static s4 {{ ipv4; route 172.20.0.0/24 unreachable; }}
protocol bgp edge {{
    local as 4242420001;
    neighbor fe80::e as 65500;
    interface "{wg_if}";
    connect retry time 2;
    error wait time 1, 5;
    ipv4 {{ import all; export where proto = "s4"; extended next hop on; }};
    ipv6 {{ import all; export none; }};
}}
"#
    )
}

/// A site: its loopback, its prefix, one tunnel to the edge (the edge dials).
fn site(
    id: &str,
    asn: u32,
    prefix: &str,
    key_file: &str,
    edge_public: &str,
    ifname: &str,
) -> String {
    Config::tunnel_node(id, asn, key_file)
        .announce(prefix)
        .peer(
            Peer::new("edge", 65500, "10.0.0.1")
                .tunnel(Tunnel::new(edge_public, ifname).listen_port(51820))
                .policies("all", "ours"),
        )
        .accept_all("all")
        .only("ours", prefix)
        .render()
}

#[test]
fn one_edge_serves_a_provider_two_sites_and_a_link_local_dn42_peer() {
    require_root();
    let e = Netns::new("mxe");
    let p = Netns::new("mxp");
    let s1 = Netns::new("mx1");
    let s2 = Netns::new("mx2");
    let d = Netns::new("mxd");
    link((&e, "v0", "10.255.5.2/30"), (&p, "v0", "10.255.5.1/30"));
    link((&e, "u1", "10.71.1.1/24"), (&s1, "u1", "10.71.1.2/24"));
    link((&e, "u2", "10.71.2.1/24"), (&s2, "u2", "10.71.2.2/24"));
    link((&e, "u3", "10.71.3.1/24"), (&d, "u3", "10.71.3.2/24"));
    e.sysctl("net.ipv4.ip_forward", "1");
    p.add_lo_addr("45.0.0.1/32");
    s1.add_lo_addr("10.100.1.1/32");
    s2.add_lo_addr("10.100.2.1/32");

    // Keys and tunnel names: E <-> S1, E <-> S2 by wgbgpd on both ends;
    // E <-> D by wgbgpd in E and by hand in D.
    let keys = Keys::new();
    let (k1, k2) = (WgKey::generate(), WgKey::generate());
    let (s1_key, s2_key) = (keys.write("s1.key", &k1), keys.write("s2.key", &k2));
    let (e_s1, e_s2, s1_e, s2_e) = (ifname("mxa"), ifname("mxb"), ifname("mxc"), ifname("mxd"));
    let dn42 = HandTunnel::new(&d, "mxf", &[], None);
    let d_if = dn42.wg.ifname().to_string();
    d.set_link_local(&d_if, "fe80::d/64");

    // wgbgpd has one key for all its tunnels: the edge's is the one
    // HandTunnel made for D's peer.
    let edge_public = public_key_of(&dn42.a_key_file);
    let edge_yaml = Config::tunnel_node("10.0.0.1", 65500, &dn42.a_key_file)
        .peer(Peer::new("isp", 64999, "10.255.5.1").policies("all", "all"))
        .peer(
            Peer::new("s1", 65501, "10.0.0.11")
                .tunnel(Tunnel::new(&k1.public, &e_s1).endpoint("10.71.1.2:51820"))
                .policies("all", "all"),
        )
        .peer(
            Peer::new("s2", 65502, "10.0.0.12")
                .tunnel(Tunnel::new(&k2.public, &e_s2).endpoint("10.71.2.2:51820"))
                .policies("all", "all"),
        )
        .peer(
            Peer::new("dn42", 4242420001, "fe80::d")
                .set("link_local", "\"fe80::e\"")
                .tunnel(Tunnel::new(&dn42.b_public, &dn42.a_if).endpoint("10.71.3.2:51820"))
                .policies("all", "all"),
        )
        .accept_all("all")
        .render();

    let mut provider = Bird::start(&p, PROVIDER);
    let mut dn42_bird = Bird::start(&d, &dn42_bird(&d_if));
    let mut site1 = Wgbgpd::start(
        &s1,
        &site(
            "10.0.0.11",
            65501,
            "10.100.1.0/24",
            &s1_key,
            &edge_public,
            &s1_e,
        ),
    );
    let mut site2 = Wgbgpd::start(
        &s2,
        &site(
            "10.0.0.12",
            65502,
            "10.100.2.0/24",
            &s2_key,
            &edge_public,
            &s2_e,
        ),
    );
    let mut edge = Wgbgpd::start(&e, &edge_yaml);
    for addr in ["10.255.5.1", "10.0.0.11", "10.0.0.12", "fe80::d"] {
        edge.wait_established(&e, addr, T);
    }

    // The edge: the provider's routes via its link address, D's IPv4 route
    // over D's link-local address on the tunnel.
    let line = e.wait_route("45.0.1.0/24", "via 10.255.5.1 dev v0 proto bgp", T);
    eprintln!("E: {line}");
    let line = e.wait_route("172.20.0.0/24", "via inet6 fe80::d", T);
    assert!(
        line.contains(&format!("dev {} proto bgp", dn42.a_if)),
        "{line}"
    );
    eprintln!("E: {line}");

    // The sites: the provider's and D's routes through the edge's loopback.
    for (ns, ifname) in [(&s1, &s1_e), (&s2, &s2_e)] {
        let line = ns.wait_route("45.0.1.0/24", "via 10.0.0.1", T);
        assert!(line.contains(&format!("dev {ifname} proto bgp")), "{line}");
        ns.wait_route("172.20.0.0/24", "via 10.0.0.1", T);
    }
    // ... and traffic: S1's prefix reaches the provider's address and back
    // (the provider learnt 10.100.1.0/24 from the edge).
    s1.wait_ping_from("10.100.1.1", "45.0.0.1", T);
    let shown = provider.birdc("show route 10.100.2.0/24 all");
    assert!(shown.contains("BGP.as_path: 65500 65502"), "{shown}");
    let shown = dn42_bird.birdc("show route 10.100.1.0/24 all");
    assert!(shown.contains("BGP.as_path: 65500 65501"), "{shown}");

    for d in [&mut site1, &mut site2, &mut edge] {
        d.check_alive();
    }
    provider.check_alive();
    dn42_bird.check_alive();
}

/// `wg pubkey` of a private key file.
fn public_key_of(path: &str) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let private = std::fs::read_to_string(path).expect("read key file");
    let mut wg = (Command::new("wg").arg("pubkey"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run wg pubkey");
    wg.stdin
        .take()
        .unwrap()
        .write_all(private.as_bytes())
        .unwrap();
    let out = wg.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
