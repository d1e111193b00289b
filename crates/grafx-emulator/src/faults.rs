//! Fault injection: arm a misbehaviour for the next N requests to the token endpoint or the API.
//!
//! ```
//! use grafx_emulator::{Fault, FaultSpec, FaultTarget};
//!
//! let spec: FaultSpec = serde_json::from_str(
//!     r#"{"target":"token","times":2,"kind":"status","status":503,"retry_after":7}"#,
//! )?;
//! assert_eq!(spec.target, FaultTarget::Token);
//! assert!(matches!(spec.fault, Fault::Status { status: 503, .. }));
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{Emulator, Error};

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// `POST /oauth/token`.
    Token,
    /// Every Environment API route.
    Api,
}

/// A misbehaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Reply with this status and body instead of handling the request. With status 200 and a
    /// crafted body this also fakes wrong token replies (bad `token_type`, missing `expires_in`…).
    Status {
        /// HTTP status (100–599).
        status: u16,
        /// Body text; empty when absent.
        #[serde(default)]
        body: Option<String>,
        /// `Content-Type`; `application/json` when absent.
        #[serde(default)]
        content_type: Option<String>,
        /// A `Retry-After` header, in seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Reply exactly so: this status, these headers and no others (no content type unless one is
    /// given), and this body, gzip-compressed (with `Content-Encoding: gzip`) when `gzip` is set.
    /// A misbehaving upstream, down to the bytes: the proxy's redaction is tested with it.
    Reply {
        /// HTTP status (100–599).
        status: u16,
        /// Headers, in order (a name may repeat).
        #[serde(default)]
        headers: Vec<(String, String)>,
        /// Body text; empty when absent.
        #[serde(default)]
        body: String,
        /// Compress the body with gzip.
        #[serde(default)]
        gzip: bool,
    },
    /// Redirect elsewhere (a misconfigured proxy, or a hostile one): `Location` and a 3xx status.
    Redirect {
        /// HTTP status (300–399).
        status: u16,
        /// Where to.
        location: String,
    },
    /// Wait this long, then handle the request normally (a slow upstream, or a timeout).
    Delay {
        /// Milliseconds to wait (at most 600000).
        ms: u64,
    },
    /// Handle the request normally, but send the body only after waiting this long (headers go at
    /// once): a slow download, for timeouts that must cover reading the body.
    SlowBody {
        /// Milliseconds between the headers and the body (at most 600000).
        ms: u64,
    },
    /// Abort the connection without a complete reply.
    Drop,
    /// A 200 reply whose JSON body is cut off.
    MalformedJson,
    /// An HTML error page, as a proxy in front of the real server would send.
    Html {
        /// HTTP status; 502 when absent.
        #[serde(default = "default_html_status")]
        status: u16,
    },
}

fn default_html_status() -> u16 {
    502
}

fn default_times() -> u32 {
    1
}

/// A fault armed for the next `times` requests to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// Where it applies.
    pub target: FaultTarget,
    /// For how many requests (1 to 10000; default 1).
    #[serde(default = "default_times")]
    pub times: u32,
    /// What happens.
    #[serde(flatten)]
    pub fault: Fault,
}

impl FaultSpec {
    /// Checks ranges so a typo gives a clear 400 rather than a strange fault.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::InvalidSettings(m.to_owned()));
        if !(1..=10_000).contains(&self.times) {
            return bad("times must be between 1 and 10000");
        }
        match &self.fault {
            Fault::Status { status, .. } | Fault::Html { status } | Fault::Reply { status, .. }
                if !(100..=599).contains(status) =>
            {
                bad("status must be between 100 and 599")
            }
            Fault::Delay { ms } | Fault::SlowBody { ms } if *ms > 600_000 => {
                bad("delay ms must be at most 600000")
            }
            Fault::Redirect { status, .. } if !(300..=399).contains(status) => {
                bad("a redirect's status must be between 300 and 399")
            }
            _ => Ok(()),
        }
    }
}

/// The armed faults, consumed in arming order.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    queue: VecDeque<FaultSpec>,
}

impl Faults {
    pub(crate) fn arm(&mut self, spec: FaultSpec) {
        self.queue.push_back(spec);
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    pub(crate) fn armed(&self) -> Vec<FaultSpec> {
        self.queue.iter().cloned().collect()
    }

    /// Takes one use of the first fault armed for `target`.
    pub(crate) fn take(&mut self, target: FaultTarget) -> Option<Fault> {
        let i = self.queue.iter().position(|f| f.target == target)?;
        let spec = &mut self.queue[i];
        let fault = spec.fault.clone();
        spec.times -= 1;
        if spec.times == 0 {
            self.queue.remove(i);
        }
        Some(fault)
    }
}

/// Middleware for the token endpoint.
pub(crate) async fn token_faults(State(em): State<Emulator>, req: Request, next: Next) -> Response {
    em.count_token_request();
    inject(&em, FaultTarget::Token, req, next).await
}

/// Middleware for the Environment API.
pub(crate) async fn api_faults(State(em): State<Emulator>, req: Request, next: Next) -> Response {
    em.count_api_request();
    inject(&em, FaultTarget::Api, req, next).await
}

async fn inject(em: &Emulator, target: FaultTarget, req: Request, next: Next) -> Response {
    let Some(fault) = em.take_fault(target) else {
        return next.run(req).await;
    };
    tracing::info!(?target, ?fault, "injecting fault");
    match fault {
        Fault::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(req).await
        }
        Fault::SlowBody { ms } => slow_body(next.run(req).await, ms).await,
        Fault::Status {
            status,
            body,
            content_type,
            retry_after,
        } => status_reply(status, body, content_type, retry_after),
        Fault::Reply {
            status,
            headers,
            body,
            gzip,
        } => crafted_reply(status, &headers, body, gzip),
        Fault::Redirect { status, location } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
            match header::HeaderValue::from_str(&location) {
                Ok(to) => (status, [(header::LOCATION, to)]).into_response(),
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            }
        }
        Fault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIi","token_type":"Bea"#,
        )
            .into_response(),
        Fault::Html { status } => proxy_error_page(status),
        Fault::Drop => dropped_connection(),
    }
}

/// The reply's head at once, its body `ms` later.
async fn slow_body(res: Response, ms: u64) -> Response {
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    // Hyper sends the head at once and polls the body afterwards.
    let late = futures_util::stream::once(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, std::io::Error>(bytes)
    });
    Response::from_parts(parts, Body::from_stream(late))
}

fn status_reply(
    status: u16,
    body: Option<String>,
    content_type: Option<String>,
    retry_after: Option<u64>,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = content_type.unwrap_or_else(|| "application/json".into());
    let mut res = (
        status,
        [(header::CONTENT_TYPE, content_type)],
        body.unwrap_or_default(),
    )
        .into_response();
    if let Some(secs) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    res
}

/// A reply with exactly the given status, headers and body (see [`Fault::Reply`]).
fn crafted_reply(status: u16, headers: &[(String, String)], body: String, gzip: bool) -> Response {
    let body = if gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(body.as_bytes());
        encoder.finish().unwrap_or_default()
    } else {
        body.into_bytes()
    };
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(value),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    if gzip {
        res.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static("gzip"),
        );
    }
    res
}

/// The HTML error page a CDN in front of CHILI answers with.
fn proxy_error_page(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let reason = status.canonical_reason().unwrap_or("Error");
    let page = format!(
        "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n",
        code = status.as_u16()
    );
    (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
}

/// A reply cut mid-body.
fn dropped_connection() -> Response {
    // A body that fails on first poll makes hyper abort the connection mid-reply.
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "fault: drop",
        ))
    });
    let mut res = Response::new(Body::from_stream(stream));
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, 4096.into());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_in_order_and_per_target() {
        let mut f = Faults::default();
        f.arm(FaultSpec {
            target: FaultTarget::Api,
            times: 1,
            fault: Fault::Drop,
        });
        f.arm(FaultSpec {
            target: FaultTarget::Token,
            times: 2,
            fault: Fault::MalformedJson,
        });
        f.arm(FaultSpec {
            target: FaultTarget::Token,
            times: 1,
            fault: Fault::Delay { ms: 5 },
        });
        assert_eq!(f.take(FaultTarget::Token), Some(Fault::MalformedJson));
        assert_eq!(f.take(FaultTarget::Token), Some(Fault::MalformedJson));
        assert_eq!(f.take(FaultTarget::Token), Some(Fault::Delay { ms: 5 }));
        assert_eq!(f.take(FaultTarget::Token), None);
        assert_eq!(f.take(FaultTarget::Api), Some(Fault::Drop));
        assert_eq!(f.take(FaultTarget::Api), None);
    }

    #[test]
    fn a_slow_body_reads_from_json_and_is_bounded() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"target":"api","kind":"slow_body","ms":250}"#).unwrap();
        assert_eq!(spec.fault, Fault::SlowBody { ms: 250 });
        assert!(spec.validate().is_ok());
        let too_slow = FaultSpec {
            fault: Fault::SlowBody { ms: 600_001 },
            ..spec
        };
        assert!(too_slow.validate().is_err());
    }

    #[test]
    fn validates_ranges() {
        let ok = FaultSpec {
            target: FaultTarget::Api,
            times: 1,
            fault: Fault::Html { status: 502 },
        };
        assert!(ok.validate().is_ok());
        assert!(FaultSpec {
            times: 0,
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(FaultSpec {
            fault: Fault::Html { status: 700 },
            ..ok.clone()
        }
        .validate()
        .is_err());
        assert!(FaultSpec {
            fault: Fault::Delay { ms: 600_001 },
            ..ok
        }
        .validate()
        .is_err());
    }
}
