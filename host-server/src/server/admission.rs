//! Who may call the API, and how often: two layers in front of the handlers.
//!
//! - Decision endpoints answer anyone by default; with `decisions_need_token` they need a token
//!   whose role the admin policy allows `decide` (401 / 403 as for admin calls).
//! - A token bucket per client (`rate_per_second`, `rate_burst`): the client is the token's
//!   name when the call carries a known token, the peer address otherwise (so an unknown token
//!   does not buy a fresh bucket). Past it: 429 `rate_limited` with `Retry-After`. Behind a
//!   proxy every caller shares the proxy's address: give callers tokens there.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::AdminAction;
use super::error::ApiError;
use super::routes::authorization;
use super::state::AppState;

/// Clients tracked at most; past it, buckets that have refilled are forgotten (a full bucket
/// is the same as none).
const MAX_CLIENTS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets, one per client.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `None` when `per_second` is 0 (no limit). The burst is at least one request.
    pub fn new(per_second: f64, burst: f64) -> Option<Self> {
        (per_second > 0.0).then(|| Self {
            per_second,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one request from `client`'s bucket, or says how long until one is available.
    pub fn take(&self, client: &str) -> Result<(), Duration> {
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update: the map is usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refilled).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

/// The layer in front of the decision endpoints.
pub async fn admit_decisions(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let need_token = state.config.admission.decisions_need_token;
    admit(&state, request, next, need_token).await
}

/// The layer in front of every other `/v1` endpoint (they check their own tokens).
pub async fn admit_api(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    admit(&state, request, next, false).await
}

async fn admit(state: &AppState, request: Request, next: Next, need_token: bool) -> Response {
    let limiter = state.rate_limiter.as_ref();
    if !need_token && limiter.is_none() {
        return next.run(request).await;
    }
    let header = authorization(request.headers());
    let caller = match header {
        Some(_) => state.auth.authorize(header, AdminAction::Decide),
        None => Err(ApiError::Unauthorized),
    };
    // A known token names its client, allowed to decide or not.
    let token = match &caller {
        Ok(c) => Some(c.name.clone()),
        Err(ApiError::Forbidden { token, .. }) => Some(token.clone()),
        Err(_) => None,
    };
    if need_token {
        if let Err(e) = caller {
            return e.into_response();
        }
    }
    if let Some(limiter) = limiter {
        let client = match token {
            Some(name) => format!("token {name}"),
            None => request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "an unknown peer".to_string(), |c| c.0.ip().to_string()),
        };
        if let Err(wait) = limiter.take(&client) {
            let retry_after_s = wait.as_secs_f64().ceil().max(1.0) as u64;
            return ApiError::RateLimited {
                client,
                retry_after_s,
            }
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_the_rate() {
        let limiter = RateLimiter::new(1.0, 3.0);
        assert!(limiter.is_some());
        let Some(limiter) = limiter else { return };
        for _ in 0..3 {
            assert!(limiter.take("a").is_ok());
        }
        let wait = limiter.take("a");
        assert!(wait.is_err_and(|w| w > Duration::ZERO && w <= Duration::from_secs(1)));
        // Another client has its own bucket.
        assert!(limiter.take("b").is_ok());
        assert!(RateLimiter::new(0.0, 10.0).is_none(), "0 = no limit");
    }
}
