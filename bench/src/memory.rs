//! Memory (and CPU time) of a server's whole process tree, from /proc.

use std::collections::HashMap;
use std::fs;

/// Totals over a process tree, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeMemory {
    pub processes: u64,
    /// Sum of Pss (proportional set size: shared pages split between the
    /// processes sharing them) from /proc/PID/smaps_rollup.
    pub pss_kib: u64,
    /// Sum of Rss (counts shared pages once per process).
    pub rss_kib: u64,
}

/// The parent of every process, from /proc/PID/stat.
fn parents() -> HashMap<u32, u32> {
    let mut map = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return map;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces and ')'.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = after
            .split_ascii_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// `root` and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let parents = parents();
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    if !parents.contains_key(&root) {
        return out;
    }
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        out.push(p);
        if let Some(c) = children.get(&p) {
            stack.extend(c);
        }
    }
    out
}

fn field_kib(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// CPU time (user + system, in clock ticks) of every process of the tree
/// under `root`, from /proc/PID/stat.
pub fn cpu_ticks(root: u32) -> HashMap<u32, u64> {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, stat_ticks(&stat)?))
        })
        .collect()
}

/// utime + stime from a /proc/PID/stat line (fields 14 and 15).
fn stat_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut f = after.split_ascii_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

pub fn measure(root: u32) -> Option<TreeMemory> {
    let pids = tree(root);
    if pids.is_empty() {
        return None;
    }
    let mut m = TreeMemory::default();
    for pid in pids {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            continue;
        };
        m.processes += 1;
        m.pss_kib += field_kib(&text, "Pss:");
        m.rss_kib += field_kib(&text, "Rss:");
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_tree() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        let m = measure(me).expect("own process");
        assert!(m.processes >= 1 && m.rss_kib > 0 && m.pss_kib > 0);
    }

    #[test]
    fn parses_stat() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(stat_ticks(stat), Some(10));
        assert!(cpu_ticks(std::process::id()).contains_key(&std::process::id()));
    }

    #[test]
    fn parses_rollup() {
        let t =
            "00400000-7fff [rollup]\nRss:               12345 kB\nPss:                 678 kB\n";
        assert_eq!(field_kib(t, "Rss:"), 12345);
        assert_eq!(field_kib(t, "Pss:"), 678);
    }
}
