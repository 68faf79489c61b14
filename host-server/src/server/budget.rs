//! Time budgets. Every request has a deadline (the request timeout, set by the
//! `request_timeout` layer for every endpoint); a batch or matrix also has a budget of guest
//! time. Every guest call made for a request runs under an epoch deadline that is the smaller
//! of its own budget (one evaluation, a deploy's tests, loading entities) and what is left of
//! the request's: when the answer goes out, no guest work is still running for it.
//!
//! Why not only `tokio::time::timeout`: a guest call is synchronous (it runs inside
//! `block_in_place`), so dropping the request's future cannot stop it; only the guest's own
//! epoch deadline can.

use std::time::{Duration, Instant};

use super::error::ApiError;
use super::workers::PoolError;
use crate::guest::GuestError;

/// A point in time a piece of work must end by, and how long it was given.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    end: Instant,
    total: Duration,
}

impl Budget {
    /// `total` from now.
    pub fn new(total: Duration) -> Self {
        Self::from(Instant::now(), total)
    }

    /// `total` from `start`.
    pub fn from(start: Instant, total: Duration) -> Self {
        Self {
            end: start + total,
            total,
        }
    }

    /// The part of this budget that also fits in `outer` (a batch budget inside its request's).
    pub fn within(self, outer: Budget) -> Self {
        Self {
            end: self.end.min(outer.end),
            total: self.total.min(outer.total),
        }
    }

    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn total(&self) -> Duration {
        self.total
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn spent(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The deadline of one call whose own budget is `own`, cut to what is left of this one;
    /// `None` when nothing is left.
    pub fn limit(&self, own: Duration) -> Option<CallLimit> {
        let left = self.remaining();
        if left.is_zero() {
            return None;
        }
        Some(CallLimit {
            deadline: own.min(left),
            cut: left < own,
        })
    }
}

/// The deadline of one guest call.
#[derive(Debug, Clone, Copy)]
pub struct CallLimit {
    pub deadline: Duration,
    /// The call got less than its own budget: running out means the enclosing budget is spent.
    pub cut: bool,
}

impl CallLimit {
    /// Whether `error` means this call ran out of time because the enclosing budget did (not
    /// its own).
    pub fn spent_enclosing(&self, error: &PoolError) -> bool {
        self.cut && is_deadline(error)
    }
}

/// Whether a pool failure is a guest call cut off by its deadline.
pub fn is_deadline(error: &PoolError) -> bool {
    matches!(error, PoolError::Guest(GuestError::DeadlineExceeded(_)))
}

/// The request's deadline, put on every request by the `request_timeout` layer.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Budget);

impl RequestDeadline {
    pub fn budget(&self) -> Budget {
        self.0
    }

    /// What the caller gets when the request's time is up.
    pub fn timeout(&self) -> ApiError {
        ApiError::Timeout(self.0.total())
    }

    /// The deadline of one guest call with its own budget `own`, or the request timeout.
    pub fn limit(&self, own: Duration) -> Result<CallLimit, ApiError> {
        self.0.limit(own).ok_or_else(|| self.timeout())
    }

    /// A guest failure as the API answers it: the request timeout when the request's time,
    /// not the call's own budget, ran out.
    pub fn pool_error(&self, limit: CallLimit, error: PoolError) -> ApiError {
        if limit.spent_enclosing(&error) {
            self.timeout()
        } else {
            super::state::pool_error(error)
        }
    }
}

/// Handlers take the deadline the `request_timeout` layer put on the request (a request that
/// somehow has none gets a fresh one: never no deadline at all).
impl axum::extract::FromRequestParts<std::sync::Arc<super::state::AppState>> for RequestDeadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &std::sync::Arc<super::state::AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestDeadline>()
            .copied()
            .unwrap_or_else(|| RequestDeadline(Budget::new(state.config.limits.request_timeout))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_gets_its_own_budget_cut_to_what_is_left() {
        let budget = Budget::new(Duration::from_secs(60));
        let small = budget.limit(Duration::from_millis(500));
        assert!(small.is_some_and(|l| l.deadline == Duration::from_millis(500) && !l.cut));
        let big = budget.limit(Duration::from_secs(600));
        assert!(big.is_some_and(|l| l.deadline <= Duration::from_secs(60) && l.cut));
        let spent = Budget::from(
            Instant::now() - Duration::from_secs(2),
            Duration::from_secs(1),
        );
        assert!(spent.limit(Duration::from_millis(1)).is_none());
        assert!(spent.spent());
    }
}
