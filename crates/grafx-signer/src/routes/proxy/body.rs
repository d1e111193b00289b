//! The request body on its way to CHILI: bounded in size (`proxy.max_request_bytes`, 413), in
//! time (408: the part held for a retry within the request deadline, and no pause between two
//! chunks longer than the header read timeout), and in memory across all connections (the held
//! parts of every request together stay within `proxy_held_body_bytes`, one client address's
//! within a quarter of it; a request that would go over is refused at once with 503 `proxy_busy`,
//! see [`super::budget`]). A body too large to hold gives its room back as soon as its held part
//! has been handed on to CHILI, not when its upload ends.
//!
//! ```ignore
//! let outgoing = body::read(body, &parts.headers, &policy, &limits, client_ip, whole).await?;
//! ```

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use futures_util::{Stream, StreamExt};
use grafx_core::ErrorCode;

use super::budget::{handed_on, HeldMemory, Room};
use crate::{AppError, ProxyPolicy};

/// A request body up to this size is held so a 401 can be retried; a larger one streams.
pub const REPLAY_LIMIT: usize = 256 * 1024;

/// How request bodies are bounded in time and memory.
#[derive(Clone)]
pub(crate) struct BodyLimits {
    /// The held part (up to [`REPLAY_LIMIT`]) arrives within this.
    pub(crate) deadline: Duration,
    /// No pause between two chunks is longer than this.
    pub(crate) idle: Duration,
    /// The memory every held request body may take together.
    pub(crate) memory: Arc<HeldMemory>,
    /// The memory every held reply may take together (a budget of its own).
    pub(crate) replies: Arc<HeldMemory>,
}

/// A request body for CHILI: held (and so replayable) when small, else streamed with its size
/// and pace checked on the way.
pub(super) enum Outgoing {
    Held {
        body: Option<Bytes>,
        /// Its share of the memory budget, returned when the request is done.
        _room: Option<Room>,
    },
    /// The room of its held part goes with the stream, and back once that part is sent.
    Streamed {
        body: axum::body::Body,
        flags: Arc<StreamFlags>,
    },
}

/// Why a streamed body stopped early.
#[derive(Default)]
pub(super) struct StreamFlags {
    too_large: AtomicBool,
    stalled: AtomicBool,
}

impl StreamFlags {
    /// The refusal a failed send stands for, when the body (not CHILI) was at fault.
    pub(super) fn refusal(&self, max: u64, idle: Duration) -> Option<AppError> {
        if self.too_large.load(Ordering::Relaxed) {
            Some(too_large(max))
        } else if self.stalled.load(Ordering::Relaxed) {
            Some(stalled(idle))
        } else {
            None
        }
    }
}

pub(super) fn too_large(max: u64) -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than the proxy forwards ({max} bytes; proxy.max_request_bytes)"),
    )
}

fn stalled(idle: Duration) -> AppError {
    AppError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body paused for more than {} s; send it without stalling",
            idle.as_secs_f32()
        ),
    )
}

fn late(deadline: Duration) -> AppError {
    AppError::new(
        ErrorCode::RequestTimeout,
        format!(
            "the request body did not arrive within {} s",
            deadline.as_secs_f32()
        ),
    )
}

impl Outgoing {
    /// The whole body, when it is held.
    pub(super) fn held(&self) -> Option<&Bytes> {
        match self {
            Outgoing::Held { body, .. } => body.as_ref(),
            Outgoing::Streamed { .. } => None,
        }
    }
}

/// Reads up to [`REPLAY_LIMIT`] of the body within the deadline (all of it when `whole`, within
/// the client's share of the memory budget); the rest, if any, streams.
pub(super) async fn read(
    body: Body,
    headers: &HeaderMap,
    policy: &ProxyPolicy,
    limits: &BodyLimits,
    client: IpAddr,
    whole: bool,
) -> Result<Outgoing, AppError> {
    let max = if whole {
        policy.max_request_bytes.min(limits.memory.client_share())
    } else {
        policy.max_request_bytes
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    if axum::body::HttpBody::is_end_stream(&body) {
        return Ok(Outgoing::Held {
            body: None,
            _room: None,
        });
    }
    let held = if whole { usize::MAX } else { REPLAY_LIMIT };
    let room = Room::new(&limits.memory, client);
    tokio::time::timeout(
        limits.deadline,
        hold(body.into_data_stream(), max, held, limits, room),
    )
    .await
    .map_err(|_| late(limits.deadline))?
}

/// The held part, its memory taken from the budget chunk by chunk (refused at once when there is
/// no room), then the streamed rest.
async fn hold(
    mut stream: axum::body::BodyDataStream,
    max: u64,
    held_at_most: usize,
    limits: &BodyLimits,
    mut room: Room,
) -> Result<Outgoing, AppError> {
    let mut held = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = next_chunk(&mut stream, limits.idle).await? {
        size += chunk.len();
        if size as u64 > max {
            return Err(too_large(max));
        }
        room.grow(chunk.len())?;
        held.push(chunk);
        if size > held_at_most {
            let flags = Arc::new(StreamFlags::default());
            let rest = guarded(stream, size as u64, max, limits.idle, Arc::clone(&flags));
            let whole = handed_on(held, room).chain(rest);
            return Ok(Outgoing::Streamed {
                body: axum::body::Body::from_stream(whole),
                flags,
            });
        }
    }
    Ok(Outgoing::Held {
        body: Some(held.concat().into()),
        _room: Some(room),
    })
}

/// The next chunk, or 408 after a pause longer than `idle`.
async fn next_chunk(
    stream: &mut axum::body::BodyDataStream,
    idle: Duration,
) -> Result<Option<Bytes>, AppError> {
    match tokio::time::timeout(idle, stream.next()).await {
        Err(_) => Err(stalled(idle)),
        Ok(None) => Ok(None),
        Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
        Ok(Some(Err(e))) => Err(AppError::new(
            ErrorCode::InvalidRequest,
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// The rest of the body after `seen` bytes: failing (and flagging why) once more than `max`
/// bytes went by or a pause outlasted `idle`.
fn guarded(
    stream: axum::body::BodyDataStream,
    seen: u64,
    max: u64,
    idle: Duration,
    flags: Arc<StreamFlags>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some((stream, seen)), move |state| {
        let flags = Arc::clone(&flags);
        async move {
            let (mut stream, seen) = state?;
            let fail = |flag: &AtomicBool, why: &str| {
                flag.store(true, Ordering::Relaxed);
                Some((Err(std::io::Error::other(why.to_owned())), None))
            };
            match tokio::time::timeout(idle, stream.next()).await {
                Err(_) => fail(&flags.stalled, "the request body stalled"),
                Ok(None) => None,
                Ok(Some(Err(e))) => Some((Err(std::io::Error::other(e)), None)),
                Ok(Some(Ok(chunk))) => {
                    let seen = seen + chunk.len() as u64;
                    if seen > max {
                        return fail(&flags.too_large, "request body over the proxy's limit");
                    }
                    Some((Ok(chunk), Some((stream, seen))))
                }
            }
        }
    })
}
