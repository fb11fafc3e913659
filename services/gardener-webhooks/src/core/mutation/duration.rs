//! Go's `time.Duration` text: parsed as `time.ParseDuration` does (`1h30m`, `1.5s`, `300ms`)
//! and printed as `Duration.String` does (`5m0s`), which is how a `metav1.Duration` field of a
//! Kubernetes object reads after upstream set it.

const UNITS: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Nanoseconds of a Go duration text.
pub fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {text:?}"));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!("time: unknown unit {unit:?} in duration {text:?}"));
        };
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        total += whole * scale;
        if !fraction.is_empty() {
            let digits: f64 = fraction.parse().unwrap_or(0.0);
            // Go's order of operations, so rounding matches.
            total += (digits * (scale as f64 / 10f64.powi(fraction.len() as i32))) as i128;
        }
        if total > i64::MAX as i128 + i128::from(negative) {
            return Err(invalid());
        }
        rest = after;
    }
    let signed = if negative { -total } else { total };
    i64::try_from(signed).map_err(|_| invalid())
}

/// The digits of `v % 10^precision` without trailing zeros, after a `.`, and `v / 10^precision`.
fn split_fraction(v: u64, precision: u32) -> (String, u64) {
    let scale = 10u64.pow(precision);
    let fraction = format!("{:0width$}", v % scale, width = precision as usize);
    let fraction = fraction.trim_end_matches('0');
    let text = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    (text, v / scale)
}

/// Go's `Duration.String`: `0s`, `1.5µs`, `300ms`, `5m0s`, `1h0m0s`.
pub fn format(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (precision, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (fraction, whole) = split_fraction(u, precision);
        return format!("{sign}{whole}{fraction}{unit}");
    }
    let (fraction, seconds) = split_fraction(u, 9);
    let mut text = format!("{}{fraction}s", seconds % 60);
    let minutes = seconds / 60;
    if minutes > 0 {
        text = format!("{}m{text}", minutes % 60);
        let hours = minutes / 60;
        if hours > 0 {
            text = format!("{hours}h{text}");
        }
    }
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn go_durations_parse() {
        for (text, nanos) in [
            ("0", 0),
            ("5m", 5 * 60 * S),
            ("1h30m", 90 * 60 * S),
            ("1.5s", 3 * S / 2),
            (".5s", S / 2),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2µs", 2_000),
            ("-1m", -60 * S),
            ("+10s", 10 * S),
        ] {
            assert_eq!(parse(text), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn bad_durations_name_the_problem() {
        assert_eq!(
            parse("5"),
            Err(r#"time: missing unit in duration "5""#.into())
        );
        assert_eq!(
            parse("5d"),
            Err(r#"time: unknown unit "d" in duration "5d""#.into())
        );
        for text in ["", "-", ".s", "m", "9999999999h"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (S, "1s"),
            (3 * S / 2, "1.5s"),
            (5 * 60 * S, "5m0s"),
            (61 * S, "1m1s"),
            (3600 * S, "1h0m0s"),
            (-90 * S, "-1m30s"),
        ] {
            assert_eq!(format(nanos), text, "{nanos}");
        }
    }
}
