//! Cheap observations of the receiver processes: RSS, peak RSS (VmHWM) and
//! CPU time, from /proc; and the route count type the monitor publishes.

/// Routes counted in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteCount {
    pub v4: u64,
    pub v6: u64,
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

/// Entries of /proc/PID/fd (0 if the process is gone).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
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
    fn parses_proc_stat_and_status() {
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
