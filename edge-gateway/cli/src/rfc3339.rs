//! RFC 3339 times as operators type them (`--expires`) and as the gateway's Unix milliseconds
//! are shown (`published_at`): UTC, no clock read.

/// `2026-12-31T23:59:59Z` (fraction and `±HH:MM` offset allowed) → Unix milliseconds.
pub(crate) fn to_ms(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not an RFC 3339 time like 2026-12-31T23:59:59Z");
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num =
        |range: std::ops::Range<usize>| text.get(range).and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad());
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        millis = format!("{:0<3}", &fraction[..digits.min(3)]).parse::<i64>().map_err(|_| bad())?;
        rest = &fraction[digits..];
    }
    let offset_s = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let (h, m) = (num(20..22)?, num(23..25)?);
            sign * (h * 3600 + m * 60)
        }
        _ => return Err(bad()),
    };
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    u64::try_from(seconds * 1000 + millis).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds → `2026-12-31T23:59:59.500Z` (milliseconds only when not zero).
pub(crate) fn from_ms(ms: u64) -> String {
    let (days, rest) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (s, millis) = (rest / 1000, rest % 1000);
    let time = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
    if millis == 0 { format!("{time}Z") } else { format!("{time}.{millis:03}Z") }
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        for ms in [0, 1_798_761_599_000, 1_798_761_599_500, 951_782_400_000] {
            assert_eq!(to_ms(&from_ms(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(from_ms(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn rfc3339_times() {
        let cases = [
            ("1970-01-01T00:00:00Z", Ok(0)),
            ("2026-12-31T23:59:59Z", Ok(1_798_761_599_000)),
            ("2026-12-31T23:59:59.5Z", Ok(1_798_761_599_500)),
            ("2027-01-01T01:59:59+02:00", Ok(1_798_761_599_000)),
            ("2026-12-31", Err(())),
            ("2026-13-01T00:00:00Z", Err(())),
            ("2026-12-31T23:59:59", Err(())),
        ];
        for (text, expected) in cases {
            assert_eq!(to_ms(text).map_err(drop), expected, "{text}");
        }
    }
}
