//! A small blocking client of the server's HTTP API, for the CLI's remote commands, the load
//! benchmark and the end-to-end tests. Error statuses are answers, not client errors: callers
//! look at `status` and the JSON `body` (which always has a `code` on failure).

use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach {url}: {message}")]
    Transport { url: String, message: String },
    #[error("{url} answered {status} with a body that is not JSON: {text}")]
    NotJson {
        url: String,
        status: u16,
        text: String,
    },
}

#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub etag: Option<String>,
    /// `Retry-After` of a 429, seconds.
    pub retry_after: Option<String>,
}

impl ApiResponse {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error code of a failed call (`""` on success).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl ApiClient {
    /// `base` like `http://127.0.0.1:8080`; `token` sent as `Authorization: Bearer`.
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    /// The same token and settings, another server (a replica).
    pub fn at(&self, base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(String::from),
            ..self.clone()
        }
    }

    pub fn get(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.send("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<ApiResponse, ClientError> {
        self.send("POST", path, Some(&body.to_string()))
    }

    /// Sends `body` as-is (for raw or deliberately malformed payloads).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<ApiResponse, ClientError> {
        let (status, text, headers) = self.exchange(method, path, body, &[])?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (etag, retry_after) = (header("etag"), header("retry-after"));
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| ClientError::NotJson {
                url: format!("{}{path}", self.base),
                status,
                text: text.chars().take(300).collect(),
            })?
        };
        Ok(ApiResponse {
            status,
            body,
            etag,
            retry_after,
        })
    }

    /// The raw answer: status, body text, ETag.
    pub fn send_text(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String, Option<String>), ClientError> {
        let (status, text, headers) = self.exchange(method, path, body, headers)?;
        let etag = headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        Ok((status, text, etag))
    }

    /// The raw answer: status, body text, headers.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String, ureq::http::HeaderMap), ClientError> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| ClientError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        let request = builder
            .body(body.unwrap_or_default().to_string())
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                message: e.to_string(),
            })?;
        let mut response = self.agent.run(request).map_err(transport)?;
        let status = response.status().as_u16();
        let response_headers = response.headers().clone();
        let text = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .map_err(transport)?;
        Ok((status, text, response_headers))
    }
}
