//! Route churn soak, short: the code of `scripts/soak.sh` (integration/src/soak.rs)
//! for half a minute at the full rate — 10,000 prefixes announced and
//! withdrawn every second — asserting what a leak or a lost update would
//! break: RSS growth after warmup, open fds, tokio tasks, and exactly the
//! expected routes in the kernel and installed in the RIB at the end.
//!
//! ```text
//!   sender (bench::speaker) 10.77.0.1 --veth-- 10.77.0.2 wgbgpd
//!   1,000 stable prefixes once; 10,000 churn prefixes up at t, down at t+0.5 s
//! ```

use std::time::Duration;

use integration::require_root;
use integration::soak::{SoakOptions, run};

#[test]
fn churn_keeps_memory_fds_tasks_flat_and_the_kernel_exact() {
    require_root();
    let opts = SoakOptions {
        duration: Duration::from_secs(30),
        warmup: Duration::from_secs(10),
        settle: Duration::from_secs(60),
        ..SoakOptions::default()
    };
    let r = run(&opts);
    eprintln!("{}\n{}", r.table(), r.json());
    assert!(r.notes.is_empty(), "{}", r.table());
    // A 2-core machine shared with builds cannot always keep the pace;
    // most periods must still carry the full churn.
    assert!(r.cycles >= 20, "{} cycles in 30 s", r.cycles);
    // The churn reached the kernel: most announcements were installed and
    // withdrawn, not cancelled out inside the RIB.
    let churned = r.cycles * r.opts_churn as u64;
    assert!(
        r.fib_ops >= churned,
        "{} kernel ops for {churned} announcements: {}",
        r.fib_ops,
        r.table()
    );
    assert!(r.missing.is_empty() && r.extra.is_empty(), "{}", r.table());
    assert_eq!(r.kernel_routes, r.expected_routes, "{}", r.table());
    assert!(r.rib_mismatch.is_empty(), "{}", r.table());
    assert_eq!(r.end.fds, r.start.fds, "fd leak: {}", r.table());
    let (start_tasks, end_tasks) = (r.start.tasks.expect("tasks"), r.end.tasks.expect("tasks"));
    assert!(end_tasks <= start_tasks, "task leak: {}", r.table());
    // 20 s of churn after warmup: a leak of even 100 bytes per route
    // announced (2 MB/s) would be far above this margin.
    let margin = 8 * 1024 * 1024;
    assert!(r.end.rss <= r.start.rss + margin, "RSS grew: {}", r.table());
}
