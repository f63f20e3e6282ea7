//! Strict parsers for the values users type: sizes, PIDs, ids, seconds,
//! names. Each rejects anything it does not fully understand, with a reason
//! that names the value.

use crate::error::{Error, quoted};

/// A size in bytes, or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Bytes(u64),
    Max,
}

/// Parse a size: decimal digits with an optional binary unit, or `max`.
///
/// Units are base 1024 and case-insensitive: `K M G T P E`, also written
/// `KiB MiB …`; a trailing `B` alone means bytes. `KB`/`MB` are refused
/// because tools disagree on them (util-linux reads 1000, others 1024).
pub fn parse_size(text: &str) -> Result<Size, String> {
    if text == "max" {
        return Ok(Size::Max);
    }
    let digits_end = text.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(if text.is_empty() { "empty size".into() } else { "not a number of bytes".into() });
    }
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        "p" | "pib" => 50,
        "e" | "eib" => 60,
        "kb" | "mb" | "gb" | "tb" | "pb" | "eb" => {
            return Err(format!("ambiguous unit '{unit}': write {}iB or {} for base 1024", &unit[..1], &unit[..1]));
        }
        _ => return Err(format!("unknown unit '{unit}' (use K, M, G, T, KiB, … or max)")),
    };
    let value: u64 = digits.parse().map_err(|_| "too large".to_string())?;
    value.checked_mul(1u64 << shift).map(Size::Bytes).ok_or_else(|| "too large".to_string())
}

/// Why a text is not a decimal number we take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDecimal {
    /// Empty, or something other than ASCII digits (a sign, a space).
    NotDigits,
    /// Digits, but above the limit.
    OutOfRange,
}

/// Plain decimal digits, no sign or space, at most `max`: the one parser of
/// ids, PIDs and descriptor numbers.
pub fn decimal(text: &str, max: u64) -> Result<u64, NotDecimal> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NotDecimal::NotDigits);
    }
    text.parse::<u64>().ok().filter(|&n| n <= max).ok_or(NotDecimal::OutOfRange)
}

/// The highest PID Linux can ever hand out (`PID_MAX_LIMIT` on 64-bit).
pub const PID_MAX_LIMIT: i32 = 4_194_304;

/// Parse a PID: plain decimal digits, 1 to [`PID_MAX_LIMIT`], nothing else.
pub fn parse_pid(text: &str) -> Result<i32, String> {
    if text.is_empty() {
        return Err("empty PID".into());
    }
    match decimal(text, PID_MAX_LIMIT as u64) {
        Ok(n) if n >= 1 => Ok(n as i32),
        Err(NotDecimal::NotDigits) => Err("not a decimal number".into()),
        _ => Err(format!("out of range (1 to {PID_MAX_LIMIT})")),
    }
}

pub fn checked_name(text: &str, what: &str) -> Result<String, Error> {
    // The kernel's limit for both names (__NEW_UTS_LEN).
    if text.len() > 64 {
        return Err(Error::new(format!("invalid {what}"), quoted(text), "longer than 64 bytes"));
    }
    Ok(text.to_owned())
}

pub fn parse_id(text: &str, what: &str) -> Result<u32, Error> {
    let why = match decimal(text, u64::from(u32::MAX) - 1) {
        Ok(n) => return Ok(n as u32),
        Err(NotDecimal::NotDigits) => "not a decimal number",
        Err(NotDecimal::OutOfRange) => "out of range",
    };
    Err(Error::new(format!("invalid {what} id"), quoted(text), why))
}

/// Whole seconds, possibly negative, for a clock offset.
pub fn parse_seconds(text: &str) -> Result<i64, Error> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new("invalid clock offset", quoted(text), "expected whole seconds"));
    }
    // The kernel refuses offsets beyond KTIME_SEC_MAX / 2.
    text.parse::<i64>()
        .ok()
        .filter(|s| s.unsigned_abs() <= (i64::MAX / 1_000_000_000 / 2) as u64)
        .ok_or_else(|| Error::new("invalid clock offset", quoted(text), "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_plain_digits_within_a_limit() {
        assert_eq!(decimal("0", 9), Ok(0));
        assert_eq!(decimal("42", 42), Ok(42));
        assert_eq!(decimal("43", 42), Err(NotDecimal::OutOfRange));
        for bad in ["", "+1", "-1", " 1", "1 ", "0x1", "1e3"] {
            assert_eq!(decimal(bad, u64::MAX), Err(NotDecimal::NotDigits), "{bad:?}");
        }
        assert_eq!(decimal("99999999999999999999999", u64::MAX), Err(NotDecimal::OutOfRange));
    }

    #[test]
    fn sizes_accepted() {
        let cases: &[(&str, Size)] = &[
            ("0", Size::Bytes(0)),
            ("1", Size::Bytes(1)),
            ("512B", Size::Bytes(512)),
            ("1K", Size::Bytes(1024)),
            ("1k", Size::Bytes(1024)),
            ("1KiB", Size::Bytes(1024)),
            ("50M", Size::Bytes(52_428_800)),
            ("50MiB", Size::Bytes(52_428_800)),
            ("1G", Size::Bytes(1 << 30)),
            ("2T", Size::Bytes(2 << 40)),
            ("15E", Size::Bytes(15 << 60)),
            ("18446744073709551615", Size::Bytes(u64::MAX)),
            ("max", Size::Max),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text).as_ref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn sizes_rejected() {
        for text in [
            "",
            " ",
            "1 ",
            " 1",
            "-1M",
            "+1M",
            "50Q",
            "1e3",
            "0x10",
            "1.5G",
            "1KB",
            "1mb",
            "M",
            "max ",
            "MAX",
            "Max",
            "inf",
            "99999999999999999999G",
            "18446744073709551616",
            "16E",
            "12345678901234567890M",
            "1K1",
            "1\n",
            "१",
        ] {
            assert!(parse_size(text).is_err(), "{text:?} accepted as {:?}", parse_size(text));
        }
        assert_eq!(parse_size("1KB").unwrap_err(), "ambiguous unit 'KB': write KiB or K for base 1024");
    }

    #[test]
    fn pids() {
        assert_eq!(parse_pid("1"), Ok(1));
        assert_eq!(parse_pid("4194304"), Ok(4_194_304));
        assert_eq!(parse_pid("0012"), Ok(12));
        for text in
            ["", "0", "-1", "+1", " 1", "1 ", "1x", "abc", "0x10", "4194305", "2147483648", "99999999999999999999999"]
        {
            assert!(parse_pid(text).is_err(), "{text:?}");
        }
    }

    /// Neither parser may panic on random strings or mutations of good
    /// values, and an accepted size must survive a round trip through its
    /// byte count.
    #[test]
    fn fuzz_parsers() {
        let alphabet: Vec<char> = "0123456789kKmMgGtTpPeEiIbBxX-+. \t\n\u{0}max\u{966}é".chars().collect();
        let seeds = ["50M", "1KiB", "max", "18446744073709551615", "4194304", "1", "15EiB"];
        let mut rng = crate::fuzz::Rng::new(0x9e37_79b9_7f4a_7c15);
        for round in 0..200_000 {
            let text = if round % 2 == 0 {
                rng.text(&alphabet, 24)
            } else {
                let seed = seeds[rng.below(seeds.len())];
                rng.mutate(seed, &alphabet)
            };
            if let Ok(Size::Bytes(n)) = parse_size(&text) {
                assert_eq!(parse_size(&n.to_string()), Ok(Size::Bytes(n)), "{text:?}");
                assert!(text.bytes().next().is_some_and(|b| b.is_ascii_digit()), "{text:?}");
            }
            if let Ok(pid) = parse_pid(&text) {
                assert!((1..=PID_MAX_LIMIT).contains(&pid), "{text:?}");
                assert_eq!(text.trim_start_matches('0'), pid.to_string());
            }
        }
    }
}
