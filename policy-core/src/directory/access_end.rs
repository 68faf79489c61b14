//! Time-bound access: the instant a user's access ends (interim staff, auditors), written as
//! a Cedar `datetime` on the user (`firm_model.attributes.access_until`). The policies compare
//! it with the request time (`request_time.rs`), so the access ends on its own, with no job
//! to run. Given and taken like a department restriction (decided as `restrict_user`), and
//! never on the firm's last administrator whose access has no end date.

use serde_json::{json, Value};

use super::planner::{attrs_mut, Planner};
use crate::error::EngineError;
use crate::request_time::datetime_value;
use crate::wire::EntityRef;

/// `text` if it has the shape of a Cedar `datetime`: `YYYY-MM-DD`, optionally followed by
/// `Thh:mm:ss`, optional `.SSS`, and `Z` or `+hhmm`/`-hhmm`. (Cedar itself refuses an
/// impossible date such as February 30th when the user record is written.)
fn instant(text: &str) -> Result<String, EngineError> {
    let text = text.trim();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let date_ok = |d: &str| {
        let parts: Vec<&str> = d.split('-').collect();
        matches!(parts.as_slice(), [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2))
    };
    let time_ok = |t: &str| {
        let (clock, zone) = match t.strip_suffix('Z') {
            Some(clock) => (clock, None),
            None if t.len() > 5 => {
                let (clock, zone) = t.split_at(t.len() - 5);
                (clock, Some(zone))
            }
            None => return false,
        };
        let zone_ok =
            zone.is_none_or(|z| (z.starts_with('+') || z.starts_with('-')) && digits(&z[1..], 4));
        let (hms, millis) = match clock.split_once('.') {
            Some((hms, ms)) => (hms, Some(ms)),
            None => (clock, None),
        };
        let parts: Vec<&str> = hms.split(':').collect();
        zone_ok
            && millis.is_none_or(|ms| digits(ms, 3))
            && matches!(parts.as_slice(), [h, m, s] if digits(h, 2) && digits(m, 2) && digits(s, 2))
    };
    // ASCII only: the slicing above then never splits a character.
    let valid = text.is_ascii()
        && match text.split_once('T') {
            Some((date, time)) => date_ok(date) && time_ok(time),
            None => date_ok(text),
        };
    if valid {
        Ok(text.to_string())
    } else {
        Err(EngineError::InvalidRequest(format!(
            "`{text}` is not an instant: write a date (2027-06-30) or a date and time \
             (2027-06-30T18:00:00Z, 2027-06-30T18:00:00+0200)"
        )))
    }
}

impl Planner<'_> {
    /// The attribute that holds the end date, or why the bundle has none.
    fn access_until_attribute(&self) -> Result<String, EngineError> {
        let name = self.model.attributes.access_until.clone();
        if name.is_empty() {
            return Err(EngineError::InvalidRequest(
                "this bundle has no time-bound access (`firm_model.attributes.access_until`)"
                    .into(),
            ));
        }
        Ok(name)
    }

    /// `user`'s record with his access ending at `until` (none: no end).
    pub(super) fn access_end(
        &mut self,
        user: &EntityRef,
        until: Option<&str>,
    ) -> Result<Value, EngineError> {
        let name = self.access_until_attribute()?;
        let until = until.map(instant).transpose()?;
        // Authority first: whether the user's access ends is not told to whoever may not
        // change it.
        self.require("restrict_user", user, json!({}), vec![], || {
            "time-bound access is given by user administration".into()
        })?;
        let has_end = self.entity(user)?.attr(&name).is_some();
        match &until {
            Some(_) => self.keeps_an_administrator(user, "given an end date")?,
            None if !has_end => {
                return Err(EngineError::InvalidRequest(format!(
                    "{user}'s access has no end date"
                )))
            }
            None => {}
        }
        let record = self.record(user)?;
        ending(record, &name, until.as_deref())
    }

    /// `record` (a user being invited, `user`) with his access ending at `until`, once
    /// `restrict_user` is allowed on him.
    pub(super) fn with_access_end(
        &mut self,
        user: &EntityRef,
        record: Value,
        until: &str,
    ) -> Result<Value, EngineError> {
        let name = self.access_until_attribute()?;
        let until = instant(until)?;
        self.require(
            "restrict_user",
            user,
            json!({}),
            vec![record.clone()],
            || "time-bound access is given by user administration".into(),
        )?;
        ending(record, &name, Some(&until))
    }
}

fn ending(mut record: Value, name: &str, until: Option<&str>) -> Result<Value, EngineError> {
    let attrs = attrs_mut(&mut record)?;
    match until {
        Some(until) => {
            attrs.insert(name.into(), datetime_value(until));
        }
        None => {
            attrs.remove(name);
        }
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::instant;

    #[test]
    fn instants_have_cedars_datetime_shapes() {
        for ok in [
            "2027-06-30",
            "2027-06-30T18:00:00Z",
            "2027-06-30T18:00:00.250Z",
            "2027-06-30T18:00:00+0200",
            "2027-06-30T18:00:00.250-0130",
        ] {
            assert_eq!(instant(ok).ok().as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "",
            "tomorrow",
            "2027-06-30T18:00:00é0200",
            "2027-6-30",
            "2027-06-30T18:00",
            "2027-06-30T18:00:00",
            "2027-06-30T18:00:00+02:00",
            "2027-06-30 18:00:00Z",
        ] {
            assert!(instant(bad).is_err(), "{bad}");
        }
    }
}
