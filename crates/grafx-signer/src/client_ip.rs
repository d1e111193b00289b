//! Which address a request comes from, for rate limits: the socket peer, or, behind your own
//! proxies, the address they saw in `X-Forwarded-For`.
//!
//! Every entry form is understood (`1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`)
//! and an entry that is not an address (`unknown`, `_hidden`, garbage) counts as the peer itself,
//! so a client cannot pick its own key by writing such an entry after a forged one.
//!
//! ```
//! use std::net::IpAddr;
//! use grafx_signer::client_ip;
//!
//! let peer: IpAddr = "10.0.0.5".parse().unwrap();
//! let proxies = ["10.0.0.0/8".parse().unwrap()];
//! // The client forged the first entry; the proxy appended what it saw.
//! let xff = ["6.6.6.6, 203.0.113.9:51000"];
//! assert_eq!(client_ip(peer, xff, true, &proxies).to_string(), "203.0.113.9");
//! // Without trust in the peer, the header is ignored.
//! assert_eq!(client_ip(peer, xff, false, &[]).to_string(), "10.0.0.5");
//! ```

use std::net::{IpAddr, SocketAddr};

/// One `X-Forwarded-For` entry as an address, in any of its forms.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    e.parse::<IpAddr>()
        .ok()
        .or_else(|| e.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            e.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
        })
}

/// The client address. Without `trust_proxy` it is `peer`. With it and no `trusted` ranges, the
/// peer is the one proxy: the last entry it appended. With `trusted` ranges, the header counts only
/// if the peer is in them, and the client is the last entry outside them (walking from the right).
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trust_proxy: bool,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !trust_proxy || (!trusted.is_empty() && !is_trusted(&peer)) {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        // An unparseable entry stands for the hop that wrote it: the peer.
        let Some(ip) = parse_entry(entry) else {
            return peer;
        };
        client = ip;
        if trusted.is_empty() || !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_entry_form_and_garbage() {
        let peer = ip("127.0.0.1");
        let one_hop = |xff: &str| client_ip(peer, [xff], true, &[]).to_string();
        assert_eq!(one_hop("203.0.113.9"), "203.0.113.9");
        assert_eq!(one_hop("203.0.113.9:51000"), "203.0.113.9");
        assert_eq!(one_hop("2001:db8::1"), "2001:db8::1");
        assert_eq!(one_hop("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(one_hop("[2001:db8::1]"), "2001:db8::1");
        // A forged entry before an unparseable one: the key is the peer, not the forgery.
        for tail in ["unknown", "_hidden", "not an ip", ""] {
            assert_eq!(one_hop(&format!("6.6.6.6, {tail}")), "127.0.0.1", "{tail}");
        }
        // Only the last entry counts with one trusted hop.
        assert_eq!(one_hop("6.6.6.6, 203.0.113.9"), "203.0.113.9");
        assert_eq!(client_ip(peer, ["6.6.6.6"], false, &[]), peer);
        assert_eq!(client_ip(peer, std::iter::empty(), true, &[]), peer);
    }

    #[test]
    fn trusted_proxies_are_walked_from_the_right() {
        let nets = [
            "10.0.0.0/8".parse().unwrap(),
            "192.168.0.0/16".parse().unwrap(),
        ];
        let xff = ["6.6.6.6, 203.0.113.9, 192.168.1.1"];
        assert_eq!(
            client_ip(ip("10.1.1.1"), xff, true, &nets),
            ip("203.0.113.9")
        );
        // A peer outside the trusted ranges is the client, whatever it claims.
        assert_eq!(
            client_ip(ip("198.51.100.7"), xff, true, &nets),
            ip("198.51.100.7")
        );
        // Every entry trusted: the leftmost is the best there is.
        assert_eq!(
            client_ip(ip("10.1.1.1"), ["10.2.2.2"], true, &nets),
            ip("10.2.2.2")
        );
    }
}
