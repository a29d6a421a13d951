//! Points in time given by people: `--started-after` and a manifest's `started_after`.
//!
//! Accepted: Unix seconds (`1714564800`), or RFC 3339 (`2024-05-01T12:00:00Z`,
//! `2024-05-01T14:00:00+02:00`, fractional seconds allowed; a space may replace the `T`). A time
//! without a zone is refused: a deploy check must not depend on the machine's time zone. Pure: no I/O.
//!
//! On the command line ([`parse_cli`]) a person may also give a local date and time
//! (`2026-11-26 13:00`, seconds optional) or a time before now (`10m`, `2h ago`, `1h 30m ago`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses a point in time, or says what is wrong with it.
pub fn parse(s: &str) -> Result<SystemTime, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty time (expected RFC 3339 or Unix seconds)".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s
            .parse()
            .map_err(|_| format!("'{s}': Unix seconds out of range"))?;
        return UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or_else(|| format!("'{s}': Unix seconds out of range"));
    }
    let bad = || {
        format!(
            "'{s}' is not RFC 3339 (2024-05-01T12:00:00Z, 2024-05-01T14:00:00+02:00) or Unix seconds"
        )
    };
    // humantime reads UTC (`Z`) only; a numeric offset is applied here.
    let (base, offset_secs): (String, i64) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (format!("{b}Z"), 0)
    } else {
        let bytes = s.as_bytes();
        if bytes.len() < 6 {
            return Err(bad());
        }
        let (head, tail) = s.split_at(s.len() - 6);
        let tb = tail.as_bytes();
        let sign = match tb[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(bad()),
        };
        if tb[3] != b':'
            || !tb[1..3].iter().all(u8::is_ascii_digit)
            || !tb[4..6].iter().all(u8::is_ascii_digit)
        {
            return Err(bad());
        }
        let hours: i64 = tail[1..3].parse().map_err(|_| bad())?;
        let minutes: i64 = tail[4..6].parse().map_err(|_| bad())?;
        if hours > 23 || minutes > 59 {
            return Err(bad());
        }
        (format!("{head}Z"), sign * (hours * 3600 + minutes * 60))
    };
    let utc = humantime::parse_rfc3339_weak(&base).map_err(|_| bad())?;
    // Local time = UTC + offset, so UTC = local - offset.
    let t = if offset_secs >= 0 {
        utc.checked_sub(Duration::from_secs(offset_secs as u64))
    } else {
        utc.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    };
    t.ok_or_else(bad)
}

/// What [`parse`] accepts, and also a local date and time without a zone (`2026-11-26 13:00`,
/// `2026-11-26T13:00:05`) or a duration before `now` (`10m`, `2h ago`, `1h 30m ago`; humantime's
/// units). `local` turns the wall-clock time, given as if it were UTC, into the instant it names
/// in the machine's time zone (`None`: it does not exist there, or could not be converted).
pub fn parse_cli(
    s: &str,
    now: SystemTime,
    local: &dyn Fn(SystemTime) -> Option<SystemTime>,
) -> Result<SystemTime, String> {
    let s = s.trim();
    let zoned = parse(s);
    if zoned.is_ok() {
        return zoned;
    }
    let ago = s.strip_suffix("ago").unwrap_or(s).trim_end();
    if ago.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(d) = humantime::parse_duration(ago) {
            return now
                .checked_sub(d)
                .ok_or_else(|| format!("'{s}': too long ago"));
        }
    }
    // A local time: the date, a space or `T`, hours and minutes, seconds optional.
    let naive = if s.len() == 16 {
        format!("{s}:00")
    } else {
        s.to_string()
    };
    if naive.len() == 19 && !naive.ends_with(['Z', 'z']) {
        if let Ok(wall) = humantime::parse_rfc3339_weak(&format!("{naive}Z")) {
            return local(wall)
                .ok_or_else(|| format!("'{s}' does not exist in the local time zone"));
        }
    }
    Err(format!(
        "'{s}' is not a time: RFC 3339 (2024-05-01T12:00:00Z), Unix seconds, a local time \
         (2024-05-01 14:00) or a time ago (10m, 2h ago)"
    ))
}

/// Unix seconds of a point in time (negative before 1970).
pub fn unix(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// RFC 3339 (UTC, whole seconds) of Unix seconds, for messages.
pub fn rfc3339(unix_secs: f64) -> String {
    if unix_secs < 0.0 {
        return format!("{unix_secs:.0} (Unix seconds)");
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs_f64(unix_secs)).to_string()
}

/// A span of time for people: `45s`, `1h 2m`, `3days 4h` (humantime's units), rounded to what
/// matters: seconds under an hour, minutes under a day, hours beyond. Negative or not finite spans
/// are `0s`.
pub fn human_duration(secs: f64) -> String {
    let secs = if secs.is_finite() && secs > 0.0 {
        secs.round() as u64
    } else {
        0
    };
    let unit = match secs {
        0..3_600 => 1,
        3_600..86_400 => 60,
        _ => 3_600,
    };
    let rounded = secs.saturating_add(unit / 2) / unit * unit;
    humantime::format_duration(Duration::from_secs(rounded)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(3600.0), "1h");
        assert_eq!(human_duration(3725.0), "1h 2m");
        assert_eq!(human_duration(44.6), "45s");
        assert_eq!(human_duration(0.2), "0s");
        assert_eq!(human_duration(-5.0), "0s");
        assert_eq!(human_duration(f64::NAN), "0s");
        assert_eq!(human_duration(90_061.0), "1day 1h");
        assert_eq!(human_duration(1e30), human_duration(1e30));
    }

    fn secs(s: &str) -> f64 {
        unix(parse(s).unwrap())
    }

    /// Unix seconds, UTC and offset forms name the same instant.
    #[test]
    fn forms_agree() {
        assert_eq!(secs("1714564800"), 1_714_564_800.0);
        assert_eq!(secs("2024-05-01T12:00:00Z"), 1_714_564_800.0);
        assert_eq!(secs("2024-05-01 12:00:00Z"), 1_714_564_800.0);
        assert_eq!(secs("2024-05-01T14:00:00+02:00"), 1_714_564_800.0);
        assert_eq!(secs("2024-05-01T07:30:00-04:30"), 1_714_564_800.0);
        assert_eq!(secs("2024-05-01T12:00:00.5Z"), 1_714_564_800.5);
    }

    /// The command line also takes local times (resolved by the given zone) and times ago.
    #[test]
    fn cli_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        // A zone two hours ahead of UTC.
        let plus2 = |wall: SystemTime| wall.checked_sub(Duration::from_secs(7200));
        let cli = |s: &str| unix(parse_cli(s, now, &plus2).unwrap());
        assert_eq!(cli("2024-05-01T12:00:00Z"), 1_714_564_800.0);
        assert_eq!(cli("1714564800"), 1_714_564_800.0);
        assert_eq!(cli("2024-05-01 14:00"), 1_714_564_800.0);
        assert_eq!(cli("2024-05-01T14:00:30"), 1_714_564_830.0);
        assert_eq!(cli("10m"), 1_714_564_800.0 - 600.0);
        assert_eq!(cli("2h ago"), 1_714_564_800.0 - 7200.0);
        assert_eq!(cli("1h 30m ago"), 1_714_564_800.0 - 5400.0);
        for bad in [
            "yesterday",
            "ago",
            "2024-05-01",
            "2024-13-01 14:00",
            "10 parsecs ago",
            "",
        ] {
            assert!(parse_cli(bad, now, &plus2).is_err(), "{bad:?}");
        }
        let gap = |_: SystemTime| None;
        assert!(parse_cli("2024-03-31 02:30", now, &gap).is_err());
    }

    /// Zone-less, garbled and out-of-range times are refused with a message, never a panic.
    #[test]
    fn bad_times() {
        for bad in [
            "",
            "yesterday",
            "2024-05-01T12:00:00",
            "2024-05-01",
            "2024-13-01T00:00:00Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00+24:00",
            "-5",
            "1e9",
            "99999999999999999999999",
            "+00:00",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
