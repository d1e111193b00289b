//! The memory the API proxy holds for bodies: request bodies held for a retry, JSON replies held
//! to rewrite their links or bind what CHILI created. Request bodies and replies each have a
//! budget of `proxy_held_body_bytes` (so a flood of uploads never starves the replies), all
//! connections together, and one client address (IPv4, or IPv6 per /56: a home network's whole
//! prefix) within a quarter of each. Nothing ever waits for room: a request that would go over is
//! refused at once with 503 `proxy_busy` and `Retry-After`, so a slow client can hold its share
//! for at most the request deadline, and never make other requests queue behind it. Held bytes
//! handed on as a stream ([`handed_on`]) keep their room until the last of them is taken.
//!
//! ```ignore
//! let mut room = Room::new(&budget, client_ip);
//! room.grow(chunk.len())?; // 503 proxy_busy when the budget or the client's share is spent
//! // … the room is given back when `room` is dropped.
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::Stream;
use grafx_core::ErrorCode;

use crate::AppError;

/// One client address's share of the budget: a quarter.
const CLIENT_SHARE_DIVISOR: u64 = 4;

/// How long a refused client is told to wait: about as long as a slow body may hold its room.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The shared budget (see the module docs).
pub(crate) struct HeldMemory {
    limit: u64,
    held: Mutex<Held>,
}

/// What is held, in all and per client. The map holds only clients holding something now, and
/// is seeded at random per process (foldhash: SipHash cost two hashes a request for no gain on
/// keys this few, each a client's own address).
#[derive(Default)]
struct Held {
    total: u64,
    by_client: HashMap<IpAddr, u64, foldhash::fast::RandomState>,
}

impl HeldMemory {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: u32) -> Arc<Self> {
        Arc::new(HeldMemory {
            limit: u64::from(limit),
            held: Mutex::new(Held::default()),
        })
    }

    /// The most one client address may hold.
    pub(crate) fn client_share(&self) -> u64 {
        self.limit / CLIENT_SHARE_DIVISOR
    }

    /// Bytes held now (`grafx_signer_proxy_held_body_bytes`).
    pub(crate) fn held(&self) -> u64 {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The room one body holds; given back on drop.
pub(crate) struct Room {
    memory: Arc<HeldMemory>,
    client: IpAddr,
    bytes: u64,
}

impl Room {
    /// An empty room for a body from `client` (counted per [`share_key`]).
    pub(crate) fn new(memory: &Arc<HeldMemory>, client: IpAddr) -> Self {
        Room {
            memory: Arc::clone(memory),
            client: share_key(client),
            bytes: 0,
        }
    }

    /// Takes `more` bytes, or refuses (503 `proxy_busy`) when the budget or the client's share
    /// would be exceeded; nothing is taken then.
    pub(crate) fn grow(&mut self, more: usize) -> Result<(), AppError> {
        let more = more as u64;
        let share = self.memory.client_share();
        let mut held = self.memory.lock();
        let mine = held.by_client.get(&self.client).copied().unwrap_or(0);
        if held.total + more > self.memory.limit || mine + more > share {
            return Err(busy(mine + more > share));
        }
        held.add(self.client, more);
        self.bytes += more;
        Ok(())
    }

    /// Takes `more` bytes even past the budget: for a reply to a write CHILI has already done,
    /// which must not be lost. Such replies are few (writes are quota-bound) and small.
    pub(crate) fn force(&mut self, more: usize) {
        let more = more as u64;
        self.memory.lock().add(self.client, more);
        self.bytes += more;
    }
}

impl Held {
    fn add(&mut self, client: IpAddr, more: u64) {
        self.total += more;
        *self.by_client.entry(client).or_insert(0) += more;
    }
}

/// `chunks` as a stream that keeps `room` until the last chunk has been taken: a body handed on
/// to CHILI, or a reply handed to a slow reader, stays counted while it is still held.
pub(crate) fn handed_on<E: Send + 'static>(
    chunks: Vec<Bytes>,
    room: Room,
) -> impl Stream<Item = Result<Bytes, E>> + Send + 'static {
    futures_util::stream::unfold(
        (chunks.into_iter(), Some(room)),
        |(mut chunks, room)| async move {
            let chunk = chunks.next()?; // the room goes with the exhausted state
            Some((Ok(chunk), (chunks, room)))
        },
    )
}

impl Drop for Room {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut held = self.memory.lock();
        held.total = held.total.saturating_sub(self.bytes);
        if let Some(mine) = held.by_client.get_mut(&self.client) {
            *mine = mine.saturating_sub(self.bytes);
            if *mine == 0 {
                held.by_client.remove(&self.client);
            }
        }
    }
}

/// Whose share a request counts against: an IPv4 address, or an IPv6 /56 (a site's usual
/// delegation, coarser than the rate limits' /64, so one home network cannot take four shares).
fn share_key(ip: IpAddr) -> IpAddr {
    match crate::RateLimits::ip_key(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 72) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

fn busy(client_share: bool) -> AppError {
    let whose = if client_share {
        "this client address holds its whole share of the proxy's body memory"
    } else {
        "the proxy holds as much body memory as it may (proxy_held_body_bytes)"
    };
    AppError::new(
        ErrorCode::ProxyBusy,
        format!("{whose}; nothing was sent to CHILI; retry shortly"),
    )
    .retry_after(RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn an_ipv6_site_holds_one_share_per_56_and_a_mapped_ipv4_is_its_address() {
        let v6 = |s: &str| IpAddr::from(s.parse::<std::net::Ipv6Addr>().unwrap());
        let site = share_key(v6("2001:db8:aa:bbcc:1:2:3:4"));
        assert_eq!(site, v6("2001:db8:aa:bb00::"));
        // Every /64 inside the /56 is the same client; the next /56 is another.
        assert_eq!(share_key(v6("2001:db8:aa:bbff:ffff::1")), site);
        assert_eq!(share_key(v6("2001:db8:aa:bb00::")), site);
        assert_eq!(
            share_key(v6("2001:db8:aa:bc00::1")),
            v6("2001:db8:aa:bc00::")
        );
        assert_eq!(share_key(v6("::ffff:10.0.0.7")), ip(7));
        assert_eq!(share_key(ip(7)), ip(7));
        let memory = HeldMemory::new(4000);
        let mut a = Room::new(&memory, v6("2001:db8:aa:bb01::1"));
        a.grow(1000).unwrap();
        let mut b = Room::new(&memory, v6("2001:db8:aa:bbfe::9"));
        assert!(
            b.grow(1).is_err(),
            "a second /64 of the same /56 shares its share"
        );
        let mut c = Room::new(&memory, v6("2001:db8:aa:bc00::1"));
        c.grow(1000).unwrap();
    }

    #[test]
    fn the_budget_and_each_clients_share_bound_what_is_held() {
        let memory = HeldMemory::new(4000);
        assert_eq!(memory.client_share(), 1000);
        let mut a = Room::new(&memory, ip(1));
        a.grow(600).unwrap();
        a.grow(400).unwrap();
        let e = a.grow(1).unwrap_err();
        assert_eq!(e.code, ErrorCode::ProxyBusy);
        assert_eq!(e.retry_after, Some(RETRY_AFTER));
        assert!(e.description.contains("share"), "{}", e.description);
        // Another room from the same address shares the share.
        let mut a2 = Room::new(&memory, ip(1));
        assert!(a2.grow(1).is_err());
        let mut rooms: Vec<Room> = (2..=4).map(|i| Room::new(&memory, ip(i))).collect();
        for r in &mut rooms {
            r.grow(1000).unwrap();
        }
        assert_eq!(memory.held(), 4000);
        let mut e5 = Room::new(&memory, ip(5));
        let e = e5.grow(1).unwrap_err();
        assert!(
            e.description.contains("proxy_held_body_bytes"),
            "{}",
            e.description
        );
        // A refused grow takes nothing; a dropped room gives its bytes back.
        assert_eq!(memory.held(), 4000);
        drop(a);
        assert_eq!(memory.held(), 3000);
        e5.grow(1000).unwrap();
        assert!(a2.grow(1).is_err(), "the budget is full again");
        // A forced grow goes past the budget, counts against the client's share, and is given
        // back too.
        a2.force(500);
        assert_eq!(memory.held(), 4500);
        assert_eq!(memory.lock().by_client.get(&ip(1)), Some(&500));
        drop(a2);
        drop(rooms);
        drop(e5);
        assert_eq!(memory.held(), 0);
        assert!(
            memory.lock().by_client.is_empty(),
            "no address is left behind"
        );
    }

    #[test]
    fn a_refusal_names_the_limit_that_refused() {
        let memory = HeldMemory::new(4000);
        let mut forced = Room::new(&memory, ip(9));
        forced.force(500);
        let mut rooms: Vec<Room> = (1..=3).map(|i| Room::new(&memory, ip(i))).collect();
        for r in &mut rooms {
            r.grow(1000).unwrap();
        }
        // Exactly a whole share, but past the budget: the budget refused, not the share.
        let e = Room::new(&memory, ip(4)).grow(1000).unwrap_err();
        assert!(
            e.description.contains("proxy_held_body_bytes"),
            "{}",
            e.description
        );
        // Past the share: the share refused.
        let e = Room::new(&memory, ip(1)).grow(1).unwrap_err();
        assert!(e.description.contains("share"), "{}", e.description);
    }
}
