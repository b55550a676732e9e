//! Instants as operators write and read them: RFC 3339 in UTC, by hand, because core has no
//! date library and needs only these two conversions (a calendar date to days and back,
//! Howard Hinnant's `days_from_civil` and `civil_from_days`).

/// Unix milliseconds of an RFC 3339 time (`2026-12-01T07:30:00Z`, `...T07:30:00.250+08:00`),
/// or `None` when `text` is not one.
pub(super) fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    let separators_ok = bytes[4] == b'-' && bytes[7] == b'-' && bytes[13] == b':';
    if !separators_ok || bytes[16] != b':' {
        return None;
    }
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let (millis, rest) = fraction_ms(&text[19..])?;
    let offset_minutes = offset_minutes(rest)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// `unix_ms` as RFC 3339 in UTC with milliseconds: `2026-12-01T07:30:00.000Z`.
pub(super) fn format_rfc3339_ms(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1000);
    let millis = unix_ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The number written in `bytes[at..at + len]`, all ASCII digits.
fn digits(bytes: &[u8], at: usize, len: usize) -> Option<i64> {
    let field = bytes.get(at..at + len)?;
    field.iter().try_fold(0_i64, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// An optional `.fraction` in milliseconds (digits past the third are dropped), and what
/// follows it.
fn fraction_ms(text: &str) -> Option<(i64, &str)> {
    let Some(fraction) = text.strip_prefix('.') else {
        return Some((0, text));
    };
    let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return None;
    }
    let millis = fraction[..len.min(3)]
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |value, byte| value * 10 + i64::from(byte - b'0'));
    Some((millis, &fraction[len..]))
}

/// `Z` or `+HH:MM` / `-HH:MM`, in minutes east of UTC.
fn offset_minutes(text: &str) -> Option<i64> {
    if text.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let bytes = text.as_bytes();
    let sign = match bytes.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if bytes.len() != 6 || bytes[3] != b':' {
        return None;
    }
    let hours = digits(bytes, 1, 2)?;
    let minutes = digits(bytes, 4, 2)?;
    (hours < 24 && minutes < 60).then_some(sign * (hours * 60 + minutes))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_parse_with_fractions_and_offsets() {
        for (text, expected) in [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-12-01T07:30:00Z", 1_796_110_200_000),
            ("2026-12-01T07:30:00.25Z", 1_796_110_200_250),
            ("2026-12-01T07:30:00.123456789z", 1_796_110_200_123),
            ("2026-12-01T15:30:00+08:00", 1_796_110_200_000),
            ("2026-12-01 02:30:00-05:00", 1_796_110_200_000),
            ("2024-02-29T00:00:00Z", 1_709_164_800_000),
            ("1969-12-31T23:59:59Z", -1000),
        ] {
            assert_eq!(parse_rfc3339_ms(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn malformed_times_are_refused() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01T07:30:00",
            "2026-13-01T07:30:00Z",
            "2026-02-29T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T07:60:00Z",
            "2026-12-01T07:30:00.Z",
            "2026-12-01T07:30:00+0800",
            "2026-12-01T07:30:00+24:00",
            "2026/12/01T07:30:00Z",
            "2026-12-01T07:30:00Zjunk",
            "２026-12-01T07:30:00Z",
        ] {
            assert_eq!(parse_rfc3339_ms(text), None, "{text}");
        }
    }

    #[test]
    fn formatting_is_the_inverse_of_parsing() {
        for ms in [
            0,
            -1000,
            1_796_110_200_123,
            951_782_400_000,
            4_102_444_799_999,
        ] {
            let text = format_rfc3339_ms(ms);
            assert_eq!(parse_rfc3339_ms(&text), Some(ms), "{text}");
        }
        assert_eq!(
            format_rfc3339_ms(1_796_110_200_250),
            "2026-12-01T07:30:00.250Z"
        );
    }
}
