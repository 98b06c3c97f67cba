//! A second wgbgpd started with the running one's configuration leaves it
//! alone: it refuses at once, naming the running instance's pid, and the
//! first one's kernel routes and underlay pin never go missing (polled
//! every 5 ms while the second one runs).
//!
//! ```text
//!   A: wgbgpd (1.1.1.1) ── wg ── B: wgbgpd (2.2.2.2, announces 198.51.100.1/32)
//!   A: then a second `wgbgpd --config <A's file>`
//! ```

use std::process::Stdio;
use std::time::{Duration, Instant};

use integration::wgbgpd::daemon_bin;
use integration::{TempDir, Wgbgpd, WgbgpdPair, require_root, wait_for};

const T: Duration = Duration::from_secs(30);
const PREFIX: &str = "198.51.100.1";

#[test]
fn a_second_instance_refuses_and_touches_nothing_of_the_first() {
    require_root();
    let pair = WgbgpdPair::new("i", "10.8.3");
    let (a_ns, b_ns) = (&pair.ns.a, &pair.ns.b);
    b_ns.add_lo_addr("198.51.100.1/32");
    let _b = Wgbgpd::start(b_ns, &pair.b_config().announce("198.51.100.1/32").render());
    let mut a = Wgbgpd::start(a_ns, &pair.a_config().render());
    a.wait_established(a_ns, "2.2.2.2", T);
    wait_for(
        T,
        Duration::from_millis(50),
        "B's prefix in A's kernel",
        || a_ns.route(PREFIX).map(|_| ()),
    );
    let pin = a_ns.stdout(&["ip", "route", "show", "table", "51820"]);
    assert!(!pin.trim().is_empty(), "no underlay pin in A");

    let dir = TempDir::new("inst");
    let log = dir.join("second.log");
    let logf = std::fs::File::create(&log).unwrap();
    let mut second = a_ns.spawn({
        let mut cmd = a_ns.command(&[
            daemon_bin().as_os_str(),
            "--config".as_ref(),
            a.config_path().as_os_str(),
        ]);
        cmd.stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf);
        cmd
    });
    let start = Instant::now();
    let (mut polls, mut missing) = (0, 0);
    let status = loop {
        polls += 1;
        if a_ns.route(PREFIX).is_err() {
            missing += 1;
        }
        if let Some(status) = second.try_wait() {
            break status;
        }
        assert!(start.elapsed() < T, "the second wgbgpd is still running");
        std::thread::sleep(Duration::from_millis(5));
    };
    // A few more polls after it is gone: nothing it did shows up late.
    for _ in 0..40 {
        polls += 1;
        if a_ns.route(PREFIX).is_err() {
            missing += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        !status.success(),
        "the second wgbgpd did not refuse: {said}"
    );
    assert!(
        said.contains(&format!("another wgbgpd (pid {})", a.pid())),
        "{said}"
    );
    assert_eq!(
        missing, 0,
        "A's route was missing in {missing} of {polls} polls"
    );
    assert_eq!(
        a_ns.stdout(&["ip", "route", "show", "table", "51820"]),
        pin,
        "A's underlay pin changed"
    );
    a.check_alive();
    a.wait_established(a_ns, "2.2.2.2", T);
}
