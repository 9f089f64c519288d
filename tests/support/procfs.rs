//! What the kernel says about a process: its memory and open files, read from `/proc`, so that
//! abuse tests assert a bound instead of a time.

use std::path::PathBuf;

/// One `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in bytes.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The most memory the process has held at once (its high-water mark), in bytes.
pub fn peak_rss(pid: u32) -> u64 {
    status_field(pid, "VmHWM").unwrap_or_else(|| panic!("no VmHWM for process {pid}"))
}

/// The memory the process holds now, in bytes.
pub fn rss(pid: u32) -> u64 {
    status_field(pid, "VmRSS").unwrap_or_else(|| panic!("no VmRSS for process {pid}"))
}

/// How many files (sockets included) the process has open.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(PathBuf::from(format!("/proc/{pid}/fd")))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"))
}

/// `n` bytes as whole MB, for messages.
pub fn mb(n: u64) -> u64 {
    n / (1024 * 1024)
}

/// The CPU time the process has used so far (user and system), from `/proc/<pid>/stat`, in
/// clock ticks of 10 ms (`CLK_TCK` is 100 on Linux).
pub fn cpu_time(pid: u32) -> std::time::Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/stat: {e}"));
    // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no field {i} in /proc/{pid}/stat"))
    };
    // utime and stime are fields 14 and 15 of the line: 11 and 12 counting from the state (0).
    std::time::Duration::from_millis((tick(11) + tick(12)) * 10)
}
