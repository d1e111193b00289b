//! An IP address as its `Display` writes it, for log lines: an IPv4 address is written digit by
//! digit, where `Ipv4Addr`'s own `Display` formats each octet through `core::fmt` (about 950
//! instructions an address, twice for every proxied write's audit lines); an IPv6 address is
//! written by its own `Display`.
//!
//! ```ignore
//! tracing::info!(client_ip = %IpText(ip), "…"); // the same text as `%ip`
//! ```

use std::fmt;
use std::net::IpAddr;

/// `Display`s as the address's own `Display` does (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IpText(pub(crate) IpAddr);

impl fmt::Display for IpText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            // Padding and width (`{:>16}`) are the address's own business.
            IpAddr::V4(v4) if f.width().is_none() && f.precision().is_none() => {
                let mut text = [0u8; 15];
                let len = write_ipv4(v4.octets(), &mut text);
                // Digits and dots only.
                f.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
            }
            ip => fmt::Display::fmt(&ip, f),
        }
    }
}

/// `a.b.c.d` into `out`; its length. Each octet's digits by `itoa`, as the log's integers.
fn write_ipv4(octets: [u8; 4], out: &mut [u8; 15]) -> usize {
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        out[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            push(b".");
        }
        push(itoa::Buffer::new().format(octet).as_bytes());
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn every_ipv4_octet_at_every_place_reads_as_display_does() {
        for octet in 0..=255u8 {
            for place in 0..4 {
                let mut octets = [1, 20, 255, 0];
                octets[place] = octet;
                let ip = IpAddr::from(Ipv4Addr::from(octets));
                assert_eq!(IpText(ip).to_string(), ip.to_string());
            }
        }
        for ip in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::LOCALHOST,
        ] {
            assert_eq!(IpText(ip.into()).to_string(), ip.to_string());
        }
    }

    #[test]
    fn ipv6_and_padding_read_as_display_does() {
        for text in [
            "::",
            "::1",
            "::ffff:10.0.0.7",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1:2:3:4",
        ] {
            let ip = IpAddr::from(text.parse::<Ipv6Addr>().unwrap());
            assert_eq!(IpText(ip).to_string(), ip.to_string());
        }
        let v4 = IpAddr::from([10, 0, 0, 7]);
        assert_eq!(format!("{:>12}|", IpText(v4)), format!("{v4:>12}|"));
        assert_eq!(format!("{:<12}|", IpText(v4)), format!("{v4:<12}|"));
    }
}
