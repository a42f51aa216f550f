//! Peak resident memory and CPU time of this process, from Linux's `/proc`
//! (absent elsewhere), and the clock that times each cell.

/// Resets the kernel's peak-RSS counter so the next reading covers what follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size (`VmHWM`) in MiB, if the platform reports it.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU time this process has used, user and system, in seconds, from
/// Linux's `/proc/self/stat` (in clock ticks of 1/100 s, the `USER_HZ` of
/// every Linux ABI); absent elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The time a cell takes, wall and CPU, from when it starts; starting one
/// also resets the peak-memory counter, so each cell reports its own.
#[derive(Debug, Clone, Copy)]
pub struct CellClock {
    wall: std::time::Instant,
    cpu: Option<f64>,
}

/// What a [`CellClock`] read when the cell was scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellTime {
    /// Wall time, in seconds.
    pub seconds: f64,
    /// CPU time of the whole process (every thread), in seconds.
    pub cpu_seconds: Option<f64>,
}

impl CellTime {
    /// `part` of this time (a share of work done for several cells at once).
    pub fn share(&self, part: f64) -> Self {
        Self {
            seconds: self.seconds * part,
            cpu_seconds: self.cpu_seconds.map(|s| (s * part * 100.0).round() / 100.0),
        }
    }

    /// This time and `other` together (CPU time only when both have it).
    pub fn plus(&self, other: CellTime) -> Self {
        Self {
            seconds: self.seconds + other.seconds,
            cpu_seconds: (self.cpu_seconds.zip(other.cpu_seconds))
                .map(|(a, b)| ((a + b) * 100.0).round() / 100.0),
        }
    }
}

impl CellClock {
    /// Starts timing a cell.
    pub fn start() -> Self {
        reset_peak_rss();
        Self {
            wall: std::time::Instant::now(),
            cpu: cpu_seconds(),
        }
    }

    /// The time since the start.
    pub fn read(&self) -> CellTime {
        let cpu = cpu_seconds().zip(self.cpu).map(|(now, then)| now - then);
        CellTime {
            seconds: self.wall.elapsed().as_secs_f64(),
            cpu_seconds: cpu.map(|s| (s * 100.0).round() / 100.0),
        }
    }
}
