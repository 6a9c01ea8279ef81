//! Small formatting helpers shared by the panes.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, Utc};

pub fn rtt(d: Option<Duration>) -> String {
    match d {
        None => "—".into(),
        Some(d) if d < Duration::from_micros(100) => "<0.1 ms".into(),
        Some(d) if d < Duration::from_secs(1) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        Some(d) => format!("{:.1} s", d.as_secs_f64()),
    }
}

pub fn rate(per_sec: f64) -> String {
    if per_sec <= 0.0 {
        "—".into()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}/s")
    } else {
        format!("{per_sec:.0}/s")
    }
}

/// `HH:MM:SS` in UTC or local time.
pub fn clock_time(t: SystemTime, utc: bool) -> String {
    if utc {
        DateTime::<Utc>::from(t).format("%H:%M:%S").to_string()
    } else {
        DateTime::<Local>::from(t).format("%H:%M:%S").to_string()
    }
}

/// `HH:MM` for the status bar clock (it changes once a minute, so an idle
/// console redraws once a minute, not once a second).
pub fn clock_minutes(t: SystemTime, utc: bool) -> String {
    if utc {
        DateTime::<Utc>::from(t).format("%H:%M UTC").to_string()
    } else {
        DateTime::<Local>::from(t).format("%H:%M").to_string()
    }
}

/// Cuts `s` to `width` characters, with an ellipsis when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rtt(None), "—");
        assert_eq!(rtt(Some(Duration::from_micros(50))), "<0.1 ms");
        assert_eq!(rtt(Some(Duration::from_micros(1500))), "1.5 ms");
        assert_eq!(rate(0.0), "—");
        assert_eq!(rate(2.25), "2.2/s");
        assert_eq!(rate(120.4), "120/s");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(3600 + 120 + 5);
        assert_eq!(clock_time(t, true), "01:02:05");
        assert_eq!(clock_minutes(t, true), "01:02 UTC");
    }
}
