//! IMAP dates: the INTERNALDATE `date-time` FETCH sends and the `date`
//! SEARCH takes (rfc3501 9), as days and seconds since the Unix epoch.

use crate::wire::parser::{Parser, SyntaxError};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Shift the year to start in March so the leap day is last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day (since the epoch) a timestamp falls on in a zone `offset`
/// minutes east of UTC.
pub fn local_day(seconds: i64, offset_minutes: i16) -> i64 {
    (seconds + i64::from(offset_minutes) * 60).div_euclid(86_400)
}

/// rfc3501 9 `date-time` with its quotes:
/// `"dd-Mon-yyyy hh:mm:ss +zzzz"`, the day padded with a space
/// (`date-day-fixed`), in the message's own zone (as Cyrus prints it).
pub fn write_date_time(out: &mut Vec<u8>, seconds: i64, offset_minutes: i16) {
    let local = seconds + i64::from(offset_minutes) * 60;
    let (year, month, day) = civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let offset = i32::from(offset_minutes).unsigned_abs();
    let text = format!(
        "\"{day:2}-{}-{year:04} {:02}:{:02}:{:02} {sign}{:02}{:02}\"",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        offset / 60 % 100,
        offset % 60,
    );
    out.extend_from_slice(text.as_bytes());
}

/// rfc3501 9: `date = date-text / DQUOTE date-text DQUOTE`,
/// `date-text = date-day "-" date-month "-" date-year`: the day count.
pub fn parse_search_date(p: &mut Parser) -> Result<i64, SyntaxError> {
    const INVALID: SyntaxError = SyntaxError::Invalid("Invalid date");
    if p.at_eol() {
        return Err(SyntaxError::Missing);
    }
    let quoted = p.eat(b'"');
    let digits = |p: &mut Parser, min: usize, max: usize| -> Result<u32, SyntaxError> {
        let mut value = 0u32;
        let mut count = 0;
        while count < max {
            match p.peek() {
                Some(d @ b'0'..=b'9') => {
                    p.eat(d);
                    value = value * 10 + u32::from(d - b'0');
                    count += 1;
                }
                _ => break,
            }
        }
        if count < min { Err(INVALID) } else { Ok(value) }
    };
    let day = digits(p, 1, 2)?;
    if !p.eat(b'-') {
        return Err(INVALID);
    }
    let mut name = [0u8; 3];
    for slot in &mut name {
        *slot = p.peek().ok_or(INVALID)?;
        p.eat(*slot);
    }
    let month = MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(&name))
        .ok_or(INVALID)? as u32
        + 1;
    if !p.eat(b'-') {
        return Err(INVALID);
    }
    let year = digits(p, 4, 4)?;
    if quoted && !p.eat(b'"') {
        return Err(INVALID);
    }
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days_in_month {
        return Err(INVALID);
    }
    Ok(days_from_civil(i64::from(year), month, day))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date_time(seconds: i64, offset: i16) -> String {
        let mut out = Vec::new();
        write_date_time(&mut out, seconds, offset);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn internal_dates() {
        // rfc3501 6.4.5 example style: " 6-Feb-2025 09:15:00 +0100"
        assert_eq!(
            date_time(1_738_829_700, 60),
            "\" 6-Feb-2025 09:15:00 +0100\""
        );
        assert_eq!(date_time(0, 0), "\" 1-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            date_time(1_700_000_000, -420),
            "\"14-Nov-2023 15:13:20 -0700\""
        );
        assert_eq!(date_time(-1, 0), "\"31-Dec-1969 23:59:59 +0000\"");
    }

    #[test]
    fn search_dates() {
        let parse = |s: &str| parse_search_date(&mut Parser::new(s.as_bytes()));
        assert_eq!(parse("1-Feb-1994"), Ok(days_from_civil(1994, 2, 1)));
        assert_eq!(parse("\"01-feb-1994\""), Ok(days_from_civil(1994, 2, 1)));
        assert_eq!(parse("29-Feb-2024"), Ok(days_from_civil(2024, 2, 29)));
        assert!(parse("29-Feb-2023").is_err());
        assert!(parse("1-Foo-1994").is_err());
        assert!(parse("1-Feb-94").is_err());
        assert!(parse("\"1-Feb-1994").is_err());
        assert!(parse("123-Feb-1994").is_err());
        assert!(parse("1-F").is_err());
        assert_eq!(parse(""), Err(SyntaxError::Missing));
    }
}
