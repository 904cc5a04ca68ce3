//! Five-field cron expressions (`minute hour day-of-month month day-of-week`, as in crontab(5))
//! and the next local time one matches. Used by a service's `cron_restart`.

/// A parsed cron expression: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// Bits 0..=59.
    minutes: u64,
    /// Bits 0..=23.
    hours: u32,
    /// Bits 1..=31.
    days: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday is 0.
    weekdays: u8,
    /// The day-of-month field starts with `*` (Vixie cron's rule: such a field does not
    /// restrict the day, so the other day field alone decides).
    days_star: bool,
    /// The day-of-week field starts with `*`.
    weekdays_star: bool,
    /// Neither the minute nor the hour field starts with `*`: a job at fixed times of day,
    /// which runs once when a daylight-saving change repeats an hour (as Vixie cron does).
    fixed_time: bool,
}

/// Give up looking for a match this far ahead (a little over five years).
const HORIZON_SECS: i64 = 5 * 366 * 86_400 + 86_400;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Field {
    what: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The first value the names stand for (1 for months, 0 for weekdays).
    names_from: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        what: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "day of month",
        min: 1,
        max: 31,
        names: &[],
        names_from: 0,
    },
    Field {
        what: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        names_from: 1,
    },
    // 7 is accepted as Sunday and folded onto 0 after parsing.
    Field {
        what: "day of week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
        names_from: 0,
    },
];

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week`. Each field is a comma-separated
    /// list of `*`, `N`, `A-B`, each optionally followed by `/STEP` (`N/STEP` means `N-MAX/STEP`).
    /// Months and weekdays may be written as names (`jan`, `mon`, any case); 0 and 7 are both
    /// Sunday. `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly` and `@yearly`
    /// (`@annually`) are shorthands.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let t = text.trim();
        let expanded = match t.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            s if s.starts_with('@') => {
                return Err(format!(
                    "unknown shorthand {t:?} (use @hourly, @daily, @weekly, @monthly or @yearly)"
                ))
            }
            _ => t,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                parts.len()
            ));
        }
        let mut bits = [0u64; 5];
        for (i, (part, field)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            bits[i] = parse_field(part, field)?;
        }
        // Sunday is 0 and 7.
        let weekdays = (bits[4] | (bits[4] >> 7)) & 0x7f;
        Ok(Cron {
            minutes: bits[0],
            hours: bits[1] as u32,
            days: bits[2] as u32,
            months: bits[3] as u16,
            weekdays: weekdays as u8,
            days_star: parts[2].starts_with('*'),
            weekdays_star: parts[4].starts_with('*'),
            fixed_time: !parts[0].starts_with('*') && !parts[1].starts_with('*'),
        })
    }

    /// Whether a local time matches: `minute` 0–59, `hour` 0–23, `day` 1–31, `month` 1–12,
    /// `weekday` 0–6 (Sunday 0). When both day fields are restricted, either may match.
    pub fn matches(&self, minute: u32, hour: u32, day: u32, month: u32, weekday: u32) -> bool {
        bit64(self.minutes, minute)
            && bit64(u64::from(self.hours), hour)
            && bit64(u64::from(self.months), month)
            && self.day_matches(day, weekday)
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let d = bit64(u64::from(self.days), day);
        let w = bit64(u64::from(self.weekdays), weekday);
        if self.days_star || self.weekdays_star {
            d && w
        } else {
            d || w
        }
    }

    /// The first whole minute strictly after `unix_secs` whose local time matches, or None if
    /// none does in the next five years (e.g. `0 0 31 2 *`).
    ///
    /// Daylight-saving changes: a wall-clock time the clock skips (spring forward) does not
    /// happen, so it never matches. When the clock goes back, a fixed-time expression (no `*`
    /// in minute or hour) matches a repeated wall-clock time only at its first occurrence,
    /// whatever `unix_secs` is (even inside the second copy of the hour); one with a `*` there
    /// matches in both copies.
    pub fn next_after(&self, unix_secs: i64) -> Option<i64> {
        self.next_after_with(unix_secs, &local_time)
    }

    /// When a job last fired at `last_fire` (if it ever did) and it is `now` (both Unix
    /// seconds), the time it fires next: the next match strictly after both, so that a clock
    /// set back or a daemon restarted never runs the same time twice.
    pub fn next_fire(&self, now: i64, last_fire: Option<i64>) -> Option<i64> {
        self.next_after(last_fire.map_or(now, |l| l.max(now)))
    }

    /// [`Cron::next_after`] with the way to break a time down into local fields given.
    fn next_after_with(
        &self,
        unix_secs: i64,
        breakdown: &dyn Fn(i64) -> Option<Tm>,
    ) -> Option<i64> {
        let mut t = unix_secs.div_euclid(60).checked_add(1)?.checked_mul(60)?;
        let limit = t.checked_add(HORIZON_SECS)?;
        // Every step moves forward; this bounds the loop even for a strange breakdown.
        for _ in 0..2_000_000 {
            if t > limit {
                return None;
            }
            let tm = breakdown(t)?;
            let next = if !bit64(u64::from(self.months), tm.month)
                || !self.day_matches(tm.day, tm.weekday)
            {
                next_day(t, &tm, breakdown)?
            } else if !bit64(u64::from(self.hours), tm.hour) {
                round_up_minute(t.checked_add(i64::from(3600 - tm.minute * 60 - tm.second))?)
            } else if !bit64(self.minutes, tm.minute) {
                match (tm.minute + 1..60).find(|&m| bit64(self.minutes, m)) {
                    Some(m) => {
                        t.saturating_add(i64::from(m - tm.minute) * 60 - i64::from(tm.second))
                    }
                    None => t.checked_add(i64::from(3600 - tm.minute * 60 - tm.second))?,
                }
            } else if self.fixed_time && repeated(t, &tm, breakdown) {
                // The second copy of a wall-clock time (the clock went back): it ran at the first.
                t.saturating_add(60)
            } else {
                return Some(t);
            };
            // Always move forward, by whole minutes.
            t = round_up_minute(next).max(t.saturating_add(60));
        }
        None
    }
}

fn bit64(bits: u64, n: u32) -> bool {
    n < 64 && bits & (1u64 << n) != 0
}

fn round_up_minute(t: i64) -> i64 {
    t.div_euclid(60)
        .saturating_add(i64::from(t.rem_euclid(60) != 0))
        .saturating_mul(60)
}

/// The start of the next local day after `t` (broken down as `tm`): a day later by the
/// clock, corrected when a daylight-saving change made the day 23 or 25 hours long.
fn next_day(t: i64, tm: &Tm, breakdown: &dyn Fn(i64) -> Option<Tm>) -> Option<i64> {
    let into_day = i64::from(tm.hour * 3600 + tm.minute * 60 + tm.second);
    let guess = t.checked_sub(into_day)?.checked_add(86_400)?;
    let g = breakdown(guess)?;
    if (g.year, g.month, g.day) != (tm.year, tm.month, tm.day) && (g.hour, g.minute) != (0, 0) {
        // A short day: we landed past midnight; step back to it if that is still the new day.
        let back = guess - i64::from(g.hour * 3600 + g.minute * 60 + g.second);
        if back > t {
            let b = breakdown(back)?;
            if (b.year, b.month, b.day) == (g.year, g.month, g.day) {
                return Some(back);
            }
        }
    }
    // A long day lands on the same date (the caller looks again from there); otherwise `guess`
    // is the next midnight.
    Some(guess)
}

/// How far back [`repeated`] looks for the zone's previous UTC offset: a clock change that
/// repeats more than this is not recognised (daylight-saving changes repeat an hour, a few
/// historical ones two).
const REPEAT_LOOKBACK_SECS: i64 = 12 * 3600;

/// Whether the wall-clock time of `t` (broken down as `tm`) already happened earlier, because
/// the clock went back (the end of daylight-saving time) less than
/// [`REPEAT_LOOKBACK_SECS`] before `t`: if the UTC offset then was larger by `d`, the same wall
/// time was shown `d` seconds before `t`.
fn repeated(t: i64, tm: &Tm, breakdown: &dyn Fn(i64) -> Option<Tm>) -> bool {
    let offset_now = tm.utc_offset(t);
    let Some(before) = t
        .checked_sub(REPEAT_LOOKBACK_SECS)
        .and_then(|b| Some(breakdown(b)?.utc_offset(b)))
    else {
        return false;
    };
    let back = before - offset_now;
    back > 0
        && t.checked_sub(back)
            .and_then(breakdown)
            .is_some_and(|earlier| earlier.wall() == tm.wall())
}

/// A broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tm {
    year: i64,
    /// 1–12.
    month: u32,
    /// 1–31.
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0–6, Sunday 0.
    weekday: u32,
}

impl Tm {
    /// The wall-clock time, comparable in order.
    fn wall(&self) -> (i64, u32, u32, u32, u32) {
        (self.year, self.month, self.day, self.hour, self.minute)
    }

    /// The zone's offset from UTC in seconds when this is the breakdown of `t`.
    fn utc_offset(&self, t: i64) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        days.saturating_mul(86_400)
            .saturating_add(secs)
            .saturating_sub(t)
    }
}

/// Breaks `t` down in the local time zone (TZ, else /etc/localtime).
fn local_time(t: i64) -> Option<Tm> {
    // time_t is 32 bits on some targets: a time it cannot hold has no breakdown.
    // (The type comes from localtime_r's parameter: naming libc::time_t warns on musl.)
    #[allow(clippy::useless_conversion)]
    let tt = t.try_into().ok()?;
    // SAFETY: `tm` is plain old data, so all-zero is a valid value; localtime_r reads `tt` and
    // writes only into `tm`, both valid for the call, and is thread-safe (unlike localtime).
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return None;
        }
        tm
    };
    let u = |v: libc::c_int| u32::try_from(v).ok();
    Some(Tm {
        year: i64::from(tm.tm_year) + 1900,
        month: u(tm.tm_mon)? + 1,
        day: u(tm.tm_mday)?,
        hour: u(tm.tm_hour)?,
        minute: u(tm.tm_min)?,
        // A leap second (60) counts as 59 so minute arithmetic stays within the minute.
        second: u(tm.tm_sec)?.min(59),
        weekday: u(tm.tm_wday)?,
    })
}

fn parse_field(text: &str, f: &Field) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{}: empty item in {text:?}", f.what));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("{}: invalid step {s:?} in {item:?}", f.what))?;
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, f)?, value(b, f)?);
            if a > b {
                return Err(format!(
                    "{}: range {range:?} goes backwards (write the smaller value first)",
                    f.what
                ));
            }
            (a, b)
        } else {
            let a = value(range, f)?;
            // `N/STEP` runs from N to the end of the field.
            (a, if step.is_some() { f.max } else { a })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn value(text: &str, f: &Field) -> Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        if text.bytes().all(|b| b.is_ascii_digit()) && (f.min..=f.max).contains(&n) {
            return Ok(n);
        }
        return Err(format!(
            "{}: {text:?} is out of range ({}-{})",
            f.what, f.min, f.max
        ));
    }
    let lower = text.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + f.names_from);
    }
    let names = if f.names.is_empty() {
        String::new()
    } else {
        format!(" or a name {}-{}", f.names[0], f.names[f.names.len() - 1])
    };
    Err(format!(
        "{}: invalid value {text:?} (use a number {}-{}{names})",
        f.what, f.min, f.max
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Breaks a time down in UTC shifted by `offset` seconds (a fixed-offset zone).
    fn fixed(offset: i64) -> impl Fn(i64) -> Option<Tm> {
        move |t| {
            let t = t + offset;
            let days = t.div_euclid(86_400);
            let secs = t.rem_euclid(86_400) as u32;
            // Howard Hinnant's civil_from_days.
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
            let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
            let year = yoe + era * 400 + i64::from(month <= 2);
            Some(Tm {
                year,
                month,
                day,
                hour: secs / 3600,
                minute: secs / 60 % 60,
                second: secs % 60,
                weekday: (days + 4).rem_euclid(7) as u32,
            })
        }
    }

    fn next_utc(expr: &str, t: i64) -> Option<i64> {
        Cron::parse(expr).unwrap().next_after_with(t, &fixed(0))
    }

    // 2024-01-01T00:00:00Z, a Monday.
    const JAN1: i64 = 1_704_067_200;

    #[test]
    fn parses_fields() {
        let c = Cron::parse("*/15 9-17 * * mon-FRI").unwrap();
        assert!(c.matches(0, 9, 3, 1, 1));
        assert!(c.matches(45, 17, 3, 1, 5));
        assert!(!c.matches(50, 9, 3, 1, 1));
        assert!(!c.matches(0, 18, 3, 1, 1));
        assert!(!c.matches(0, 9, 3, 1, 0));
        assert!(!c.matches(0, 9, 3, 1, 6));
        let c = Cron::parse("5,10-20/5 0 1 jan,Jul 7").unwrap();
        for m in [5, 10, 15, 20] {
            assert!(c.matches(m, 0, 1, 7, 3), "{m}");
        }
        assert!(!c.matches(25, 0, 1, 7, 3));
        assert!(!c.matches(5, 0, 1, 2, 3));
        // Both day fields restricted: either matches (1st of the month, or a Sunday).
        assert!(c.matches(5, 0, 9, 1, 0));
        assert!(c.matches(5, 0, 1, 1, 4));
        assert!(!c.matches(5, 0, 9, 1, 4));
        // 0 and 7 are both Sunday.
        assert_eq!(
            Cron::parse("0 0 * * 0").unwrap(),
            Cron::parse("0 0 * * 7").unwrap()
        );
        assert_eq!(
            Cron::parse("@daily").unwrap(),
            Cron::parse("0 0 * * *").unwrap()
        );
        // N/STEP runs to the end of the field.
        let c = Cron::parse("50/5 * * * *").unwrap();
        assert!(c.matches(50, 0, 1, 1, 0) && c.matches(55, 0, 1, 1, 0));
        assert!(!c.matches(0, 0, 1, 1, 0));
        // A day-of-month starting with '*' does not widen the weekday match (Vixie).
        let c = Cron::parse("0 0 */2 * 1").unwrap();
        assert!(c.matches(0, 0, 1, 1, 1));
        assert!(!c.matches(0, 0, 1, 1, 2));
        assert!(!c.matches(0, 0, 2, 1, 1));
    }

    #[test]
    fn rejects_bad_expressions() {
        for (bad, why) in [
            ("* * * *", "expected 5 fields"),
            ("* * * * * *", "expected 5 fields"),
            ("60 * * * *", "minute: \"60\" is out of range (0-59)"),
            ("* 24 * * *", "out of range"),
            ("* * 0 * *", "out of range"),
            ("* * * 13 *", "out of range"),
            ("* * * * 8", "out of range"),
            ("*/0 * * * *", "invalid step"),
            ("*/x * * * *", "invalid step"),
            ("5-1 * * * *", "goes backwards"),
            ("1,,2 * * * *", "empty item"),
            (
                "* * * foo *",
                "month: invalid value \"foo\" (use a number 1-12 or a name jan-dec)",
            ),
            ("* * * * funday", "day of week: invalid value"),
            ("-1 * * * *", "minute"),
            ("+1 * * * *", "minute"),
            ("@reboot", "unknown shorthand"),
            ("", "expected 5 fields"),
        ] {
            let e = Cron::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn next_after_golden_values_in_utc() {
        // Daily at 04:00.
        assert_eq!(next_utc("0 4 * * *", JAN1), Some(JAN1 + 4 * 3600));
        assert_eq!(
            next_utc("0 4 * * *", JAN1 + 4 * 3600),
            Some(JAN1 + 86_400 + 4 * 3600)
        );
        // Strictly after, on whole minutes.
        assert_eq!(next_utc("* * * * *", JAN1), Some(JAN1 + 60));
        assert_eq!(next_utc("* * * * *", JAN1 + 59), Some(JAN1 + 60));
        assert_eq!(next_utc("* * * * *", JAN1 - 1), Some(JAN1));
        // Every 15 minutes.
        assert_eq!(
            next_utc("*/15 * * * *", JAN1 + 16 * 60),
            Some(JAN1 + 30 * 60)
        );
        assert_eq!(next_utc("*/15 * * * *", JAN1 + 50 * 60), Some(JAN1 + 3600));
        // Saturday 2024-01-06 at 12:30.
        assert_eq!(
            next_utc("30 12 * * sat", JAN1),
            Some(JAN1 + 5 * 86_400 + 12 * 3600 + 1800)
        );
        // Leap day: 2024-02-29 00:00.
        assert_eq!(next_utc("0 0 29 2 *", JAN1), Some(1_709_164_800));
        // Next leap day after that: 2028-02-29.
        assert_eq!(next_utc("0 0 29 2 *", 1_709_164_800), Some(1_835_395_200));
        // The 1st or any Friday, strictly after 1 January 00:00: Friday 2024-01-05.
        assert_eq!(next_utc("0 0 1 * fri", JAN1), Some(JAN1 + 4 * 86_400));
        // The month still applies: 1 March or a Friday in March: 2024-03-01.
        assert_eq!(next_utc("0 0 1 3 fri", JAN1), Some(1_709_251_200));
        // Never matches.
        assert_eq!(next_utc("0 0 31 2 *", JAN1), None);
        assert_eq!(next_utc("0 0 30 2 *", JAN1), None);
        // New Year, from mid-December.
        assert_eq!(next_utc("@yearly", JAN1 - 20 * 86_400), Some(JAN1));
        // Extreme inputs do not panic.
        assert_eq!(next_utc("* * * * *", i64::MAX), None);
        let _ = next_utc("* * * * *", i64::MIN);
    }

    #[test]
    fn next_after_in_a_fixed_offset_zone() {
        // UTC+05:30: local 04:00 on 1 Jan 2024 is 22:30 UTC on 31 Dec 2023.
        let c = Cron::parse("0 4 * * *").unwrap();
        let zone = fixed(5 * 3600 + 1800);
        assert_eq!(c.next_after_with(JAN1 - 3 * 3600, &zone), Some(JAN1 - 5400));
        assert_eq!(c.next_after_with(JAN1, &zone), Some(JAN1 - 5400 + 86_400));
    }

    #[test]
    fn next_after_across_a_short_day() {
        // A zone that moves from UTC+0 to UTC+1 at 01:00 UTC on day 2 of the test (JAN1 + 1d):
        // that local day has 23 hours; every midnight must still be found.
        let switch = JAN1 + 86_400 + 3600;
        let zone = move |t: i64| fixed(if t >= switch { 3600 } else { 0 })(t);
        let c = Cron::parse("0 0 * * *").unwrap();
        // From local noon on day 1: next local midnight is day 2 00:00 (UTC+0).
        assert_eq!(
            c.next_after_with(JAN1 + 12 * 3600, &zone),
            Some(JAN1 + 86_400)
        );
        // Then day 3 00:00 local is 23:00 UTC on day 2.
        assert_eq!(
            c.next_after_with(JAN1 + 86_400, &zone),
            Some(JAN1 + 2 * 86_400 - 3600)
        );
        // A weekly job skipping whole days lands on the right local midnight too.
        let c = Cron::parse("0 0 * * sun").unwrap(); // Sunday 2024-01-07
        assert_eq!(
            c.next_after_with(JAN1, &zone),
            Some(JAN1 + 6 * 86_400 - 3600)
        );
    }

    #[test]
    fn next_after_across_a_long_day() {
        // From UTC+1 to UTC+0 at 01:00 UTC on day 2: that local day has 25 hours.
        let switch = JAN1 + 86_400 + 3600;
        let zone = move |t: i64| fixed(if t >= switch { 0 } else { 3600 })(t);
        let c = Cron::parse("0 0 * * *").unwrap();
        // Day 2 00:00 local is 23:00 UTC day 1; day 3 00:00 local is 00:00 UTC day 3.
        assert_eq!(c.next_after_with(JAN1, &zone), Some(JAN1 + 86_400 - 3600));
        assert_eq!(
            c.next_after_with(JAN1 + 86_400 - 3600, &zone),
            Some(JAN1 + 2 * 86_400)
        );
        // Local 01:30 on day 2 happens twice (00:30 and 01:30 UTC): a fixed-time job runs
        // once, one with a '*' hour or minute runs at both.
        let first = JAN1 + 86_400 + 1800;
        let c = Cron::parse("30 1 * * *").unwrap();
        assert_eq!(c.next_after_with(JAN1 + 86_400, &zone), Some(first));
        assert_eq!(
            c.next_after_with(first, &zone),
            Some(JAN1 + 2 * 86_400 + 5400)
        );
        assert_eq!(
            c.next_after_with(first + 600, &zone),
            Some(JAN1 + 2 * 86_400 + 5400)
        );
        let c = Cron::parse("30 * * * *").unwrap();
        assert_eq!(c.next_after_with(first, &zone), Some(first + 3600));
        // Skipping whole days through the long one: Wednesday 2024-01-03 00:00 (UTC+0).
        let c = Cron::parse("0 0 * * wed").unwrap();
        assert_eq!(c.next_after_with(JAN1, &zone), Some(JAN1 + 2 * 86_400));
    }

    /// Europe/Berlin in 2026 (CET, UTC+1; CEST, UTC+2 from 29 March to 25 October), as the
    /// POSIX TZ `CET-1CEST,M3.5.0,M10.5.0/3` gives it.
    fn berlin_2026(t: i64) -> Option<Tm> {
        // 2026-03-29 01:00 UTC (02:00 CET becomes 03:00 CEST) and 2026-10-25 01:00 UTC
        // (03:00 CEST becomes 02:00 CET).
        let summer = (1_774_746_000..1_792_890_000).contains(&t);
        fixed(if summer { 7200 } else { 3600 })(t)
    }

    #[test]
    fn utc_offset_of_a_breakdown() {
        for offset in [0, 3600, 5 * 3600 + 1800, -9 * 3600] {
            for t in [JAN1, JAN1 + 12_345, 1_792_890_000, -86_401] {
                assert_eq!(fixed(offset)(t).unwrap().utc_offset(t), offset);
            }
        }
        assert_eq!(
            berlin_2026(1_792_889_999)
                .unwrap()
                .utc_offset(1_792_889_999),
            7200
        );
        assert_eq!(
            berlin_2026(1_792_890_000)
                .unwrap()
                .utc_offset(1_792_890_000),
            3600
        );
    }

    #[test]
    fn a_fixed_time_runs_once_when_the_clock_goes_back_in_berlin() {
        let at = |expr: &str, t: i64| Cron::parse(expr).unwrap().next_after_with(t, &berlin_2026);
        // 2026-10-25: 02:30 CEST is 00:30 UTC, 02:30 CET (the repeat) 01:30 UTC; the next
        // 02:30 is on the 26th at 01:30 UTC.
        let (first, repeat, next_day) = (1_792_888_200, 1_792_891_800, 1_792_978_200);
        // From 02:30 CEST the day before: the first 02:30.
        assert_eq!(at("30 2 * * *", first - 86_400), Some(first));
        // From the first 02:30, from later in the first copy, at the change, and from anywhere
        // in the second copy (a daemon started at 02:10 CET): the next day.
        for from in [
            first,
            first + 600,
            1_792_890_000 - 1,
            1_792_890_000,
            1_792_890_000 + 600,
            repeat - 1,
            repeat,
        ] {
            assert_eq!(at("30 2 * * *", from), Some(next_day), "from {from}");
        }
        // An hour range: 01:30, 02:30 CEST, then 03:30 CET (02:30 CET is the repeat).
        assert_eq!(at("30 1-3 * * *", first - 3600), Some(first));
        assert_eq!(at("30 1-3 * * *", first), Some(repeat + 3600));
        assert_eq!(at("30 1-3 * * *", first + 1800), Some(repeat + 3600));
        // A '*' in minute or hour runs in both copies.
        assert_eq!(at("30 * * * *", first), Some(repeat));
        assert_eq!(at("30 * * * *", first + 600), Some(repeat));
        assert_eq!(at("30 * * * *", 1_792_890_000 + 600), Some(repeat));
        assert_eq!(at("*/20 2 * * *", first), Some(first + 600));
        assert_eq!(at("*/20 2 * * *", first + 1200), Some(1_792_890_000));
        assert_eq!(at("*/20 2 * * *", 1_792_890_000), Some(1_792_891_200));
        // Daily at midnight across the long day: 25th 00:00 CEST, 26th 00:00 CET.
        assert_eq!(at("0 0 * * *", first - 86_400), Some(1_792_879_200));
        assert_eq!(at("0 0 * * *", 1_792_879_200), Some(1_792_969_200));
    }

    #[test]
    fn a_skipped_time_does_not_run_when_the_clock_goes_forward_in_berlin() {
        let at = |expr: &str, t: i64| Cron::parse(expr).unwrap().next_after_with(t, &berlin_2026);
        // 2026-03-29 has no 02:00-02:59: the 02:30 job next runs on the 30th, 02:30 CEST.
        let day_before = 1_774_661_400; // 2026-03-28 02:30 CET
        assert_eq!(at("30 2 * * *", day_before), Some(1_774_830_600));
        // Hourly at :30 goes from 01:30 CET (00:30 UTC) to 03:30 CEST (01:30 UTC).
        assert_eq!(at("30 * * * *", 1_774_744_200), Some(1_774_747_800));
        // 03:00 CEST, the first minute after the gap, exists.
        assert_eq!(at("0 3 * * *", 1_774_744_200), Some(1_774_746_000));
    }

    #[test]
    fn a_half_hour_fall_back_repeats_half_an_hour() {
        // From UTC+00:30 to UTC+0 at 01:00 UTC on day 2 (as Lord Howe Island does, shifted):
        // local 01:00-01:29 happens twice.
        let switch = JAN1 + 86_400 + 3600;
        let zone = move |t: i64| fixed(if t >= switch { 0 } else { 1800 })(t);
        let c = Cron::parse("15 1 * * *").unwrap();
        let first = JAN1 + 86_400 + 2700; // 01:15 local, 00:45 UTC
        assert_eq!(c.next_after_with(JAN1 + 86_400, &zone), Some(first));
        assert_eq!(
            c.next_after_with(switch, &zone),
            Some(JAN1 + 2 * 86_400 + 4500)
        );
        let c = Cron::parse("15 * * * *").unwrap();
        assert_eq!(c.next_after_with(switch, &zone), Some(switch + 900));
    }

    #[test]
    fn next_fire_is_after_the_last_fire_and_now() {
        let c = Cron::parse("0 4 * * *").unwrap();
        let four = JAN1 + 4 * 3600;
        // Never fired: from now.
        assert_eq!(c.next_after(four - 30), c.next_fire(four - 30, None));
        // Fired at 04:00, then the clock was set back 30 s (or the daemon restarted then):
        // not 04:00 again.
        assert_eq!(c.next_fire(four - 30, Some(four)), c.next_after(four));
        // Fired long ago: from now.
        assert_eq!(
            c.next_fire(four - 30, Some(four - 3 * 86_400)),
            c.next_after(four - 30)
        );
        // Fired a minute ago: the next match after now.
        assert_eq!(c.next_fire(four + 60, Some(four)), c.next_after(four + 60));
    }

    #[test]
    fn next_after_in_the_real_local_zone() {
        let now = 1_750_000_000;
        for expr in [
            "0 4 * * *",
            "*/7 * * * *",
            "15 3 1 * *",
            "0 12 * * mon",
            "0 0 29 2 *",
        ] {
            let c = Cron::parse(expr).unwrap();
            let t = c.next_after(now).unwrap();
            assert!(t > now && t % 60 == 0, "{expr}");
            let tm = local_time(t).unwrap();
            assert!(
                c.matches(tm.minute, tm.hour, tm.day, tm.month, tm.weekday),
                "{expr}: {tm:?}"
            );
            // Nothing in between matches (checked minute by minute up to 40 days).
            if t - now < 40 * 86_400 {
                let mut m = (now / 60 + 1) * 60;
                while m < t {
                    let tm = local_time(m).unwrap();
                    assert!(!c.matches(tm.minute, tm.hour, tm.day, tm.month, tm.weekday));
                    m += 60;
                }
            }
        }
        assert_eq!(Cron::parse("0 0 31 2 *").unwrap().next_after(now), None);
    }
}
