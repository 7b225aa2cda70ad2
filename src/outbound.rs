//! Requests to URLs that users type in (an agent's caller-lookup endpoint): they go to the public
//! internet only, unless the operator allows private networks (`LOQUENT_ALLOW_PRIVATE_LOOKUPS`).
//!
//! Without this, anyone allowed to edit an agent could make the server fetch its own admin ports,
//! a cloud metadata service (169.254.169.254) or hosts on the operator's LAN, and read the answer
//! back through the model. Names are checked where they are resolved (a resolver that drops
//! non-public addresses), so a name that resolves to a public address when saved and a private one
//! at call time (DNS rebinding) is still refused; literal addresses in the URL and in redirects
//! never reach a resolver, so they are checked before each request and each redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;
use url::{Host, Url};

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// The client for user-configured URLs. One per policy for the process: pools and TLS set-up are
/// reused across calls.
pub fn client(allow_private: bool) -> &'static reqwest::Client {
    static PUBLIC: OnceLock<reqwest::Client> = OnceLock::new();
    static ANY: OnceLock<reqwest::Client> = OnceLock::new();
    if allow_private {
        ANY.get_or_init(|| build(false))
    } else {
        PUBLIC.get_or_init(|| build(true))
    }
}

fn build(public_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    if public_only {
        builder = builder
            .dns_resolver(Arc::new(PublicOnly))
            .redirect(redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    attempt.error("too many redirects")
                } else if let Err(why) = check_public(attempt.url()) {
                    attempt.error(why)
                } else {
                    attempt.follow()
                }
            }));
    } else {
        builder = builder.redirect(redirect::Policy::limited(MAX_REDIRECTS));
    }
    // Building fails only when the TLS backend cannot start, which no request could survive.
    builder.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// Refuses a URL whose host is a literal non-public address or `localhost`; names are left to
/// the resolver.
pub fn check_public(url: &Url) -> Result<(), String> {
    let refused = |what: &str| {
        Err(format!(
            "{what} is not on the public internet; the server's operator can allow private \
             networks with LOQUENT_ALLOW_PRIVATE_LOOKUPS=true"
        ))
    };
    match url.host() {
        Some(Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => refused(&ip.to_string()),
        Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => refused(&ip.to_string()),
        Some(Host::Domain(name)) if is_local_name(name) => refused(name),
        None => Err("the URL has no host".to_owned()),
        _ => Ok(()),
    }
}

/// `localhost` and its subdomains resolve to loopback by convention (RFC 6761), whatever DNS says.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Resolves with the system resolver and keeps public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_local_name(&host) {
                return Err(refusal(&host).into());
            }
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(refusal(&host).into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

fn refusal(host: &str) -> String {
    format!(
        "{host} resolves only to addresses that are not on the public internet; the server's \
         operator can allow private networks with LOQUENT_ALLOW_PRIVATE_LOOKUPS=true"
    )
}

/// Whether `ip` is a globally routable unicast address: not loopback, private, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240; // reserved for future use
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address carried in IPv6 (mapped, or through the NAT64 well-known prefix) is judged
    // as IPv4: `::ffff:127.0.0.1` is loopback.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation, 2001:db8::/32
        || segments[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated), ::/96
    !reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as private");
        }
    }

    #[test]
    fn literal_hosts_and_localhost_are_checked_before_any_request() {
        for url in [
            "http://127.0.0.1:8080/crm",
            "http://[::1]/crm",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/crm",
            "http://api.localhost./crm",
            "http://0x7f000001/crm",
        ] {
            let error = check_public(&Url::parse(url).unwrap()).unwrap_err();
            assert!(
                error.contains("LOQUENT_ALLOW_PRIVATE_LOOKUPS"),
                "{url}: {error}"
            );
        }
        assert!(check_public(&Url::parse("https://crm.example.com/lookup").unwrap()).is_ok());
        assert!(check_public(&Url::parse("https://8.8.8.8/lookup").unwrap()).is_ok());
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused() {
        // `localhost` never reaches the system resolver; a name made of a private literal does.
        for name in ["localhost", "127.0.0.1"] {
            let result = PublicOnly.resolve(name.parse().unwrap()).await;
            let error = result.err().expect("refused").to_string();
            assert!(
                error.contains("not on the public internet"),
                "{name}: {error}"
            );
        }
    }
}
