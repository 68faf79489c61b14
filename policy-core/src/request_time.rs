//! The request time, for time-bound access: a user's access may end at an instant
//! (`access_until`, a Cedar `datetime`), and the policies compare it with the time of the
//! request, which a firm-model bundle declares as a context attribute (`firm_model.request_time`,
//! `now` in `policies/`).
//!
//! policy-core reads no clock (it does no I/O): the host that has one installs it once
//! ([`install_clock`]) and the engine then puts that time into every request whose action
//! declares the attribute, like the plan counts (`plan_counts.rs`):
//! - the wasmtime guest and the server install a clock that **replaces** whatever a caller sent,
//!   so nobody keeps an expired access by sending an old date;
//! - the browser page installs one that only **fills** a time the caller left out (its answers
//!   are a pre-check: the server decides again with its own clock);
//! - without a clock (the CLI, a library user) the caller's time stands;
//! - a bundle's tests always decide at the instant they state, wherever they run (a deploy runs
//!   them in a guest, whose clock is not asked: `engine::HostTime::AsStated`).

use std::collections::HashSet;
use std::sync::OnceLock;

use cedar_policy_core::validator::types::Type;
use serde_json::{json, Map, Value};

use crate::entity_json::to_ref;
use crate::wire::EntityRef;

/// A host's clock: milliseconds since the Unix epoch, and whether it overrides a caller's time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now_ms: fn() -> i64,
    pub replaces_caller: bool,
}

static CLOCK: OnceLock<Clock> = OnceLock::new();

/// Installs the process's clock; the first one installed stays (a host installs one).
pub fn install_clock(clock: Clock) {
    // A second install is the same host starting another engine: the first clock stands.
    let _ = CLOCK.set(clock);
}

fn clock() -> Option<Clock> {
    CLOCK.get().copied()
}

/// `ms` since the Unix epoch as an RFC 3339 UTC instant with milliseconds (Cedar's `datetime`
/// format), e.g. `2026-12-01T23:07:22.000Z`.
pub fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1_000 % 60,
        ms_of_day % 1_000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The Cedar JSON of a `datetime` value.
pub fn datetime_value(instant: &str) -> Value {
    json!({ "__extn": { "fn": "datetime", "arg": instant } })
}

/// Puts the installed clock's time into `context` under `name`, as the clock says (replacing
/// the caller's, or only where the caller sent none); whether it changed anything.
pub(crate) fn stamp(context: &mut Map<String, Value>, name: &str) -> bool {
    stamp_with(context, name, clock())
}

fn stamp_with(context: &mut Map<String, Value>, name: &str, clock: Option<Clock>) -> bool {
    let Some(clock) = clock else {
        return false;
    };
    if !clock.replaces_caller && context.contains_key(name) {
        return false;
    }
    context.insert(name.into(), datetime_value(&rfc3339((clock.now_ms)())));
    true
}

/// Stamps `context` when a clock is installed and `action`'s context declares the bundle's
/// request time; whether it changed anything.
pub(crate) fn stamp_if_clocked(
    bundle: &crate::bundle::Bundle,
    action: &EntityRef,
    context: &mut Map<String, Value>,
) -> bool {
    match bundle.manifest().firm_model.as_ref() {
        Some(model) if is_stamped(bundle, action) => stamp(context, &model.request_time),
        _ => false,
    }
}

/// Whether a request on `action` is stamped: a clock is installed and the action's context
/// declares the bundle's request time.
pub(crate) fn is_stamped(bundle: &crate::bundle::Bundle, action: &EntityRef) -> bool {
    clock().is_some() && bundle.is_clocked(action)
}

/// The schema's actions whose context declares the attribute `name` (none for an empty name).
pub(crate) fn clocked_actions(schema: &cedar_policy::Schema, name: &str) -> HashSet<EntityRef> {
    if name.is_empty() {
        return HashSet::new();
    }
    schema
        .actions()
        .filter(|action| {
            // Only a `datetime` attribute: a bundle whose `now` is something else (a Long, a
            // String) is not given a value its schema refuses.
            matches!(
                schema.as_ref().context_type(action.as_ref()),
                Some(Type::Record { attrs, .. }) if attrs.get_attr(name).is_some_and(|a| {
                    matches!(a.attr_type.as_ref(), Type::ExtensionType { name } if name.to_string() == "datetime")
                })
            )
        })
        .map(to_ref)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_as_cedar_reads_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_166_442_123), "2026-12-01T23:07:22.123Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    fn fixed() -> i64 {
        1_796_166_442_000
    }

    #[test]
    fn a_replacing_clock_overrides_the_callers_time_and_a_filling_one_does_not() {
        let old = || {
            let mut m = Map::new();
            m.insert("now".into(), datetime_value("2000-01-01"));
            m
        };
        let replacing = Clock {
            now_ms: fixed,
            replaces_caller: true,
        };
        let mut sent = old();
        assert!(stamp_with(&mut sent, "now", Some(replacing)));
        assert_eq!(sent["now"], datetime_value("2026-12-01T23:07:22.000Z"));

        let filling = Clock {
            replaces_caller: false,
            ..replacing
        };
        let mut sent = old();
        assert!(!stamp_with(&mut sent, "now", Some(filling)));
        assert_eq!(sent, old());
        let mut empty = Map::new();
        assert!(stamp_with(&mut empty, "now", Some(filling)));
        assert!(!stamp_with(&mut Map::new(), "now", None));
    }
}
