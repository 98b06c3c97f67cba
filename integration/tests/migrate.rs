//! Migrating the seed post's hub from FRR to wgbgpd with `wgbgp import frr`:
//! S1's own files from the post (bgpd.conf, wg0.conf, wg1.conf with its keys,
//! kept in `bin/tests/data/frr/s1/`) are imported, and the YAML that comes out
//! runs S1 against S2 and S3, which stay on FRR and hand-made wireguard-go
//! tunnels with the post's keys.
//!
//! ```text
//!            lo 1.1.1.1 (by wgbgpd)                 lo 2.2.2.2, 198.19.0.1
//!   +------------+ 10.1.0.2    10.2.0.2 +-----------+
//!   | S1: wgbgpd |------- R1 -----------| S2: FRR   |  AS 65501
//!   | AS 65500   |           \          +-----------+
//!   +------------+            \10.3.0.2 +-----------+
//!    imported config           `--------| S3: FRR   |  AS 65502
//!                                       +-----------+  lo 3.3.3.3, 198.18.0.1
//! ```

use std::path::PathBuf;
use std::time::Duration;

use integration::frr::seed_spoke_conf;
use integration::wgbgpd::cli_bin;
use integration::{
    Frr, SeedLab, TempDir, WgPeer, WgPeerConfig, Wgbgpd, ifname, require_root, wait_for,
};

const T: Duration = Duration::from_secs(40);
/// S1's public key (its private key is in the imported wg0.conf/wg1.conf).
const S1_PUBLIC: &str = "G3D758Mb0jyo9H9MnTeDO6Hnh/mqHju3R3Cols4P+jo=";
/// S2's and S3's private keys, from their wg0.conf in the post.
const S2_PRIVATE: &str = "uFQKcMjkBDeBKJFlqy7z9mi2C1fjBuzTwMqfaalbyW0=";
const S3_PRIVATE: &str = "CIjf0eWDIWJI4UwSZLwim2pbAyQpBQAeI12p+9vRJGs=";

fn s1_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bin/tests/data/frr/s1")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn imported_frr_config_runs_the_seed_hub() {
    require_root();
    let lab = SeedLab::new();
    for (ns, addrs) in [
        (&lab.s2, ["2.2.2.2/32", "198.19.0.1/32"]),
        (&lab.s3, ["3.3.3.3/32", "198.18.0.1/32"]),
    ] {
        for a in addrs {
            ns.add_lo_addr(a);
        }
    }
    // S2 and S3 as in the post: wg0 listening on 51820, AllowedIPs 0/0, a
    // host route to S1's loopback.
    let spoke = |ns, private: &str| {
        let wg = WgPeer::start(
            ns,
            "spoke",
            &WgPeerConfig {
                private_key: private.into(),
                listen_port: Some(51820),
                peer_public_key: S1_PUBLIC.into(),
                ..Default::default()
            },
        );
        wg.route(ns, "1.1.1.1/32");
        wg
    };
    let _wg2 = spoke(&lab.s2, S2_PRIVATE);
    let _wg3 = spoke(&lab.s3, S3_PRIVATE);
    let mut frr2 = Frr::start(
        &lab.s2,
        &seed_spoke_conf(65501, "2.2.2.2", "198.19.0.1/32"),
        "hostname s2\n",
    );
    let mut frr3 = Frr::start(
        &lab.s3,
        &seed_spoke_conf(65502, "3.3.3.3", "198.18.0.1/32"),
        "hostname s3\n",
    );

    // The migration, as the README tells it.
    let dir = TempDir::new("migrate");
    let key = dir.path().join("private.key");
    let out = std::process::Command::new(cli_bin())
        .args(["import", "frr", "--key-file"])
        .arg(&key)
        .arg(s1_file("bgpd.conf"))
        // Nothing in S1's files names the neighbor behind each tunnel
        // (AllowedIPs 0.0.0.0/0, ::/0; the endpoints are underlay
        // addresses): each is tied on the command line, as the README says.
        .arg(format!("2.2.2.2={}", s1_file("wg0.conf")))
        .arg(format!("3.3.3.3={}", s1_file("wg1.conf")))
        .output()
        .expect("run wgbgp import frr");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import frr failed: {stderr}");
    assert!(stderr.contains(S1_PUBLIC), "{stderr}");
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(yaml.contains("# not translated: nothing"), "{yaml}");
    // wg0/wg1 are fine on a router; here wireguard-go's UAPI sockets are
    // shared by every namespace, so the test gives them machine-unique names.
    let (if2, if3) = (ifname("mig"), ifname("mig"));
    let yaml = yaml
        .replacen("interface: wg0", &format!("interface: {if2}"), 1)
        .replacen("interface: wg1", &format!("interface: {if3}"), 1);
    let path = dir.path().join("wgbgp.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let check = std::process::Command::new(cli_bin())
        .args(["config", "check"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "config check: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    let mut s1 = Wgbgpd::start(&lab.s1, &yaml);
    s1.wait_established(&lab.s1, "2.2.2.2", T);
    s1.wait_established(&lab.s1, "3.3.3.3", T);
    frr2.wait_established("1.1.1.1", T);
    frr3.wait_established("1.1.1.1", T);
    // The post's result: each prefix recursively via its loopback, onlink
    // through its own tunnel.
    for (prefix, gw, dev) in [
        ("198.19.0.1", "2.2.2.2", &if2),
        ("198.18.0.1", "3.3.3.3", &if3),
    ] {
        let want = format!("via {gw} dev {dev} proto bgp metric 20 onlink");
        wait_for(
            T,
            Duration::from_millis(200),
            &format!("{prefix} {want}"),
            || match lab.s1.route_to(prefix) {
                Some(r) if r.contains(&want) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        lab.s1.wait_ping(prefix, Duration::from_secs(10));
    }
    // DENY-ALL out: the spokes learn nothing from S1.
    let summary = frr2.vtysh_json("show bgp summary json");
    assert_eq!(
        summary["ipv4Unicast"]["peers"]["1.1.1.1"]["pfxRcd"], 0,
        "{summary:#}"
    );
    assert!(lab.s2.route_to("198.18.0.1").is_none());
    s1.check_alive();
}
