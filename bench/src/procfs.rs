//! What the benchmark reads from `/proc`: CPU time of a process (all its threads, including
//! exited ones) and this process's resident memory.

use anyhow::Context;
use std::sync::OnceLock;
use std::time::Duration;

/// User plus system CPU time consumed so far by process `pid`.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    cpu_of_stat(&stat).with_context(|| format!("parsing {path}"))
}

/// CPU time of this process.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    cpu_time(std::process::id())
}

fn cpu_of_stat(stat: &str) -> anyhow::Result<Duration> {
    // The command name (field 2) may hold spaces and parentheses; fields after its closing
    // parenthesis start with field 3, so utime (14) and stime (15) are at 11 and 12.
    let (_, rest) = stat.rsplit_once(')').context("no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<u64> {
        let raw = fields.get(i).context("too few fields")?;
        Ok(raw.parse()?)
    };
    let ticks = tick(11)? + tick(12)?;
    let hz = clock_ticks_per_sec();
    Ok(Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz))
}

/// `sysconf(_SC_CLK_TCK)` without `unsafe`: asked of `getconf` once; 100 on every Linux
/// we know of when that is unavailable.
fn clock_ticks_per_sec() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&hz| hz > 0)
            .unwrap_or(100)
    })
}

/// Resident set size of this process, in bytes.
pub fn resident_bytes() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .context("parsing VmRSS")?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_a_command_name_with_spaces() {
        let hz = clock_ticks_per_sec();
        let stat = format!("42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 {hz} {hz} 0 0 20 0 3 0 1 2 3");
        assert_eq!(cpu_of_stat(&stat).ok(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn our_own_numbers_are_readable() {
        assert!(own_cpu_time().is_ok());
        assert!(resident_bytes().is_ok_and(|b| b > 0));
    }
}
