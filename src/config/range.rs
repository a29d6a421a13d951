//! Nagios threshold ranges (`-w`/`-c`), as the monitoring-plugins developer guidelines define
//! them: `10`, `10:`, `~:10`, `10:20`, `@10:20`. Pure: text in, a range out.

use std::fmt;

/// One end of a range: a number, or infinity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    NegInfinity,
    Value(f64),
    PosInfinity,
}

/// A threshold range in the monitoring-plugins syntax `[@]start:end`.
///
/// | text | alert when the value is |
/// |---|---|
/// | `10` | < 0 or > 10 |
/// | `10:` | < 10 |
/// | `~:10` | > 10 |
/// | `10:20` | < 10 or > 20 |
/// | `@10:20` | >= 10 and <= 20 |
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub start: Bound,
    pub end: Bound,
    /// `@`: alert inside the range (endpoints included) instead of outside it.
    pub inside: bool,
    /// The text it was parsed from, as given (for the perfdata).
    pub text: String,
}

/// Why a range did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeError(pub String);

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn number(s: &str, whole: &str) -> Result<f64, RangeError> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return Err(RangeError(format!(
            "invalid range '{whole}': '{s}' is not a number (ranges are [@]start:end, e.g. 10, 10:, ~:10, 10:20, @10:20)"
        )));
    }
    s.parse()
        .map_err(|_| RangeError(format!("invalid range '{whole}': '{s}' is not a number")))
}

impl Range {
    /// Parses `[@]start:end` (monitoring-plugins guidelines, "Threshold and ranges"): `start:` may be
    /// left out when start is 0; an empty end is +infinity; a start of `~` is -infinity; start must
    /// not exceed end. Pure: no I/O.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(RangeError(format!("invalid range '{text}': empty")));
        }
        let (start, end) = match body.split_once(':') {
            None => (Bound::Value(0.0), Bound::Value(number(body, text)?)),
            Some((s, e)) => {
                let start = match s {
                    "~" => Bound::NegInfinity,
                    "" => {
                        return Err(RangeError(format!(
                            "invalid range '{text}': missing start before ':' (write 0:{e} or {e})"
                        )))
                    }
                    s => Bound::Value(number(s, text)?),
                };
                let end = match e {
                    "" => Bound::PosInfinity,
                    e => Bound::Value(number(e, text)?),
                };
                (start, end)
            }
        };
        if let (Bound::Value(s), Bound::Value(e)) = (start, end) {
            if s > e {
                return Err(RangeError(format!(
                    "invalid range '{text}': start {s} is greater than end {e}"
                )));
            }
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }

    /// Whether `value` raises the alert this range stands for.
    pub fn alerts(&self, value: f64) -> bool {
        let above_start = match self.start {
            Bound::NegInfinity => true,
            Bound::Value(s) => value >= s,
            Bound::PosInfinity => false,
        };
        let below_end = match self.end {
            Bound::PosInfinity => true,
            Bound::Value(e) => value <= e,
            Bound::NegInfinity => false,
        };
        let within = above_start && below_end;
        if self.inside {
            within
        } else {
            !within
        }
    }
}

/// The `-w` and `-c` ranges, on the number of problem pidfiles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

impl Thresholds {
    pub fn is_set(&self) -> bool {
        self.warning.is_some() || self.critical.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Range {
        Range::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Each documented range form alerts exactly outside (or, with `@`, inside) its bounds.
    #[test]
    fn range_forms_alert_as_documented() {
        let cases: &[(&str, &[f64], &[f64])] = &[
            // (range, alerting values, non-alerting values)
            ("10", &[-1.0, 11.0, 10.5], &[0.0, 5.0, 10.0]),
            ("10:", &[9.0, 0.0, -3.0], &[10.0, 1e9]),
            ("~:10", &[11.0, 1e9], &[10.0, 0.0, -1e9]),
            ("10:20", &[9.0, 21.0], &[10.0, 15.0, 20.0]),
            ("@10:20", &[10.0, 15.0, 20.0], &[9.0, 21.0]),
            ("0", &[1.0], &[0.0]),
            ("@0", &[0.0], &[1.0]),
            ("-5:-1", &[0.0, -6.0], &[-5.0, -1.0]),
            ("1.5:2.5", &[1.0, 3.0], &[2.0]),
            ("~:", &[], &[-1e9, 0.0, 1e9]),
            ("@~:", &[-1e9, 0.0, 1e9], &[]),
        ];
        for (text, alert, quiet) in cases {
            let range = r(text);
            for v in *alert {
                assert!(range.alerts(*v), "{text} should alert on {v}");
            }
            for v in *quiet {
                assert!(!range.alerts(*v), "{text} should not alert on {v}");
            }
        }
    }

    /// Bounds parse to the documented start and end.
    #[test]
    fn range_bounds() {
        assert_eq!(r("10").start, Bound::Value(0.0));
        assert_eq!(r("10").end, Bound::Value(10.0));
        assert_eq!(r("10:").end, Bound::PosInfinity);
        assert_eq!(r("~:10").start, Bound::NegInfinity);
        assert!(r("@10:20").inside);
        assert_eq!(r("@10:20").text, "@10:20");
    }

    /// Malformed ranges are rejected with a message naming the range, never accepted loosely.
    #[test]
    fn bad_ranges_are_rejected() {
        for bad in [
            "", "@", ":", ":10", "abc", "10:abc", "20:10", "@20:10", "1e3", "0x10", "10:20:30",
            " 10", "10 ", "+5", "~", "10:~", "nan", "inf", "1.", ".5", "--1", "@@1",
        ] {
            let e = Range::parse(bad).expect_err(bad);
            assert!(e.0.contains("invalid range"), "{bad}: {e}");
        }
    }
}
