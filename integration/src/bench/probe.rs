//! Cheap observations taken while a receiver works: how many routes the
//! receiver namespace's kernel holds, and what the receiver processes cost
//! (RSS, peak RSS, CPU time).
//!
//! Counting routes must not be the bottleneck nor steal much CPU from the
//! receiver on a 2-core machine, so it avoids dumping 1M routes:
//! - IPv4: `/proc/net/fib_triestat`, the `Prefixes:` line of the `Main:`
//!   table: the number of route aliases in the main table's trie, counted by
//!   one in-kernel walk without formatting a line per route.
//! - IPv6: `/proc/net/rt6_stats`, field 4 (`fib_rt_entries`, hex): a counter
//!   the kernel keeps, O(1) to read; it covers every table of the namespace.
//!
//! Both are relative: [`RouteCounter::count`] minus a baseline taken before
//! the receiver gets any route. The files are opened from a thread inside
//! the namespace through `/proc/thread-self/net` (`/proc/self/net` would
//! follow the main thread's namespace) and keep reporting on that namespace
//! when read from any thread afterwards.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use crate::Netns;

/// Open handles on one namespace's route statistics.
pub struct RouteCounter {
    fib_triestat: File,
    rt6_stats: File,
    buf: String,
}

/// Routes counted in a namespace (absolute, baseline included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteCount {
    pub v4: u64,
    pub v6: u64,
}

impl RouteCounter {
    /// Opens the statistics files of `ns`.
    pub fn open(ns: &Netns) -> RouteCounter {
        let (fib_triestat, rt6_stats) = ns.in_ns(|| {
            let open = |p: &str| File::open(p).unwrap_or_else(|e| panic!("open {p}: {e}"));
            (
                open("/proc/thread-self/net/fib_triestat"),
                open("/proc/thread-self/net/rt6_stats"),
            )
        });
        RouteCounter {
            fib_triestat,
            rt6_stats,
            buf: String::with_capacity(4096),
        }
    }

    /// The current counts.
    pub fn count(&mut self) -> RouteCount {
        RouteCount {
            v4: self.v4(),
            v6: self.v6(),
        }
    }

    fn reread(file: &mut File, buf: &mut String) {
        buf.clear();
        file.seek(SeekFrom::Start(0)).expect("seek /proc file");
        file.read_to_string(buf).expect("read /proc file");
    }

    fn v4(&mut self) -> u64 {
        Self::reread(&mut self.fib_triestat, &mut self.buf);
        parse_main_prefixes(&self.buf)
            .unwrap_or_else(|| panic!("no Main: Prefixes: in fib_triestat:\n{}", self.buf))
    }

    fn v6(&mut self) -> u64 {
        Self::reread(&mut self.rt6_stats, &mut self.buf);
        parse_rt6_entries(&self.buf)
            .unwrap_or_else(|| panic!("unexpected rt6_stats: {:?}", self.buf))
    }

    /// Polls every `poll` until `done(count)` holds; returns the instant it
    /// was first seen and the count, or `Err(last count)` after `timeout`.
    pub fn wait(
        &mut self,
        timeout: Duration,
        poll: Duration,
        mut done: impl FnMut(RouteCount) -> bool,
    ) -> Result<(Instant, RouteCount), RouteCount> {
        let start = Instant::now();
        loop {
            let c = self.count();
            let at = Instant::now();
            if done(c) {
                return Ok((at, c));
            }
            if start.elapsed() >= timeout {
                return Err(c);
            }
            std::thread::sleep(poll);
        }
    }
}

/// `Prefixes:` of the `Main:` section of `/proc/net/fib_triestat`.
fn parse_main_prefixes(text: &str) -> Option<u64> {
    let mut in_main = false;
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) {
            in_main = line.trim_end() == "Main:";
            continue;
        }
        if in_main && let Some(v) = line.trim().strip_prefix("Prefixes:") {
            return v.trim().parse().ok();
        }
    }
    None
}

/// Field 4 of `/proc/net/rt6_stats` (`fib_rt_entries`, hex).
fn parse_rt6_entries(text: &str) -> Option<u64> {
    let f = text.split_whitespace().nth(3)?;
    u64::from_str_radix(f, 16).ok()
}

/// Memory and CPU of a set of processes, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcSample {
    /// VmRSS, bytes.
    pub rss: u64,
    /// VmHWM (peak RSS since start), bytes; summed per process, so for
    /// several processes it bounds their simultaneous peak from above.
    pub hwm: u64,
    /// utime + stime of all threads, seconds.
    pub cpu: f64,
}

/// Samples `pids` (processes that have gone are skipped).
pub fn sample(pids: &[u32]) -> ProcSample {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut s = ProcSample::default();
    for pid in pids {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            s.rss += status_kib(&status, "VmRSS:") * 1024;
            s.hwm += status_kib(&status, "VmHWM:") * 1024;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            s.cpu += stat_cpu_ticks(&stat) as f64 / ticks;
        }
    }
    s
}

fn status_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime (fields 14 and 15) of `/proc/PID/stat`; the command name
/// in parentheses may contain spaces, so fields are counted after `)`.
fn stat_cpu_ticks(stat: &str) -> u64 {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14 -> index 11.
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fib_triestat_main_section() {
        let text = "Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.\n\
            Local:\n\tAver depth:     2.42\n\tLeaves:         7\n\tPrefixes:       7\n\
            Main:\n\tAver depth:     2.42\n\tLeaves:         1000005\n\tPrefixes:       1000006\n\
            \tInternal nodes: 5\nNull ptrs: 11\n";
        assert_eq!(parse_main_prefixes(text), Some(1_000_006));
        assert_eq!(parse_main_prefixes("Local:\n\tPrefixes: 3\n"), None);
    }

    #[test]
    fn parses_rt6_stats_and_proc_stat() {
        assert_eq!(
            parse_rt6_entries("0009 0006 000a 30d47 0000 0000 0000\n"),
            Some(0x30d47)
        );
        let stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0";
        assert_eq!(stat_cpu_ticks(stat), 281);
        assert_eq!(
            status_kib("VmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n", "VmRSS:"),
            1024
        );
    }

    #[test]
    fn samples_this_process() {
        let s = sample(&[std::process::id()]);
        assert!(s.rss > 0 && s.hwm >= s.rss, "{s:?}");
    }
}
