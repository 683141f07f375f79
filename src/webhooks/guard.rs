//! The SSRF guard: a delivery is no proxy into the server's own network. An endpoint's host
//! is resolved and refused when any of its addresses is private, loopback, link-local,
//! unique-local, multicast or unspecified (IPv4 and IPv6), unless `[webhooks] allow_private`;
//! a delivery then connects only to the address that was checked (no second lookup that a
//! DNS rebinding could answer differently).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;

/// Checks the text of an endpoint URL: http or https, a host, no credentials, at most 2,048
/// characters.
pub fn parse_url(s: &str) -> Result<Url, String> {
    if s.len() > 2048 {
        return Err("url must be at most 2048 characters".into());
    }
    let url = Url::parse(s.trim()).map_err(|_| {
        "url must be an absolute http or https URL, e.g. https://shop.example.com/hooks".to_owned()
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url must use http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url must have a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url must not contain credentials; the signature authenticates deliveries".into(),
        );
    }
    Ok(url)
}

fn v4_public(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, protocol assignments
        || o[0] >= 240)
}

fn v6_public(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_public(v4);
    }
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10, link local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10, site local (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b)) // 64:ff9b::/96, NAT64 onto any IPv4
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_public(v4),
        IpAddr::V6(v6) => v6_public(v6),
    }
}

/// Resolves `url`'s host; the address to connect to, or why it is refused.
pub async fn resolve(url: &Url, allow_private: bool) -> Result<SocketAddr, String> {
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| format!("the host {host} of url does not resolve"))?
            .collect(),
    };
    let Some(first) = addrs.first().copied() else {
        return Err(format!("the host {host} of url does not resolve"));
    };
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "url resolves to {}, a private, loopback or link-local address; deliveries go to public addresses only (set [webhooks] allow_private = true for a local sandbox)",
                bad.ip()
            ));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_of_both_families_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse_url("https://shop.example.com/hooks").is_ok());
        assert!(parse_url("ftp://x.example").is_err());
        assert!(parse_url("https://u:p@x.example/").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let url = parse_url("http://127.0.0.1:9/").unwrap();
        assert!(resolve(&url, false)
            .await
            .unwrap_err()
            .contains("127.0.0.1"));
        assert_eq!(
            resolve(&url, true).await.unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        let url = parse_url("http://[::1]:9/").unwrap();
        assert!(resolve(&url, false).await.is_err());
    }
}
