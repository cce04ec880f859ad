//! Reaching the relay: one TCP connection, wrapped in TLS for `wss://` (and for the program
//! list behind it). TLS is rustls with the ring provider, as in the relay; which certificate
//! authorities a relay's certificate may chain to is the app's choice ([`TlsTrust`]).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::error::ClientError;

/// A connection to the relay, in the clear (`ws://`) or over TLS (`wss://`).
pub(crate) type Stream = Either<TcpStream, TlsStream<TcpStream>>;

/// Which certificate authorities a `wss://` relay's certificate may chain to.
///
/// The default is the public web PKI (Mozilla's root list, compiled in through
/// `webpki-roots`, so nothing depends on the machine's store). A program that runs its relay
/// behind a hospital's private PKI passes that CA instead with [`TlsTrust::from_pem`]; then
/// only it is trusted. Either way the TLS layer only protects the connection's metadata and
/// the relay's identity: chats are end-to-end encrypted and the peer's key is checked against
/// the program's pinned root whatever TLS says.
#[derive(Clone)]
pub struct TlsTrust {
    roots: Arc<RootCertStore>,
    private: bool,
}

impl TlsTrust {
    /// The public web PKI (Mozilla's roots as shipped in `webpki-roots`).
    #[must_use]
    pub fn public_roots() -> Self {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Self {
            roots: Arc::new(roots),
            private: false,
        }
    }

    /// Only the CA certificates in `pem` (one or more `CERTIFICATE` blocks).
    ///
    /// # Errors
    /// [`ClientError::Tls`] when the text holds no certificate or one that cannot be used
    /// as a trust anchor.
    pub fn from_pem(pem: &[u8]) -> Result<Self, ClientError> {
        let mut roots = RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            let certificate = certificate
                .map_err(|_| ClientError::Tls("the CA file is not valid PEM".to_owned()))?;
            roots.add(certificate).map_err(|e| {
                ClientError::Tls(format!("the CA file holds an unusable certificate ({e})"))
            })?;
        }
        if roots.is_empty() {
            return Err(ClientError::Tls(
                "the CA file holds no CERTIFICATE block".to_owned(),
            ));
        }
        Ok(Self {
            roots: Arc::new(roots),
            private: true,
        })
    }

    fn connector(&self) -> Result<TlsConnector, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(Arc::clone(&self.roots))
            .with_no_client_auth();
        Ok(TlsConnector::from(Arc::new(config)))
    }
}

impl Default for TlsTrust {
    fn default() -> Self {
        Self::public_roots()
    }
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTrust")
            .field("private", &self.private)
            .field("roots", &self.roots.len())
            .finish()
    }
}

/// Where a relay URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `wss://` (TLS) or `ws://`.
    pub(crate) secure: bool,
    /// The host as written, without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host:port` as written in the URL (for an HTTP `Host` header).
    pub(crate) authority: String,
}

impl Endpoint {
    /// Parses a `ws://` or `wss://` URL; any other scheme is refused.
    pub(crate) fn parse(url: &str) -> Result<Self, ClientError> {
        let uri: tokio_tungstenite::tungstenite::http::Uri = url
            .parse()
            .map_err(|_| ClientError::InvalidUrl("the relay URL is not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => {
                return Err(ClientError::InvalidUrl(
                    "the relay URL must start with ws:// or wss://",
                ));
            }
        };
        let authority = uri
            .authority()
            .ok_or(ClientError::InvalidUrl("the relay URL has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if host.is_empty() {
            return Err(ClientError::InvalidUrl("the relay URL has no host"));
        }
        Ok(Self {
            secure,
            port: authority
                .port_u16()
                .unwrap_or(if secure { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            host,
        })
    }
}

/// Opens TCP (no Nagle: chat frames are small and interactive) and, for `wss://`, TLS.
pub(crate) async fn connect(endpoint: &Endpoint, trust: &TlsTrust) -> Result<Stream, ClientError> {
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| ClientError::Connect(format!("network error ({:?})", e.kind())))?;
    // Best effort: a socket without TCP_NODELAY still works, only slower.
    let _ = tcp.set_nodelay(true);
    if !endpoint.secure {
        return Ok(Either::Left(tcp));
    }
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|_| ClientError::InvalidUrl("the relay URL's host is not a valid TLS name"))?;
    let tls = trust
        .connector()?
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(describe_tls_error(&e)))?;
    Ok(Either::Right(tls))
}

/// rustls reports through `io::Error`; say what failed without the transport's details.
fn describe_tls_error(error: &std::io::Error) -> String {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(why)) => describe_certificate_error(why),
        Some(other) => format!("handshake failed ({other})"),
        None => format!("handshake failed ({:?})", error.kind()),
    }
}

/// Where the docs say how to make a certificate the SDK accepts.
const TLS_DOCS: &str = "see docs/operators.md#tls";

/// What was wrong with the relay's certificate, in words that say what to fix (never the
/// library's enum alone).
fn describe_certificate_error(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    let fix = match why {
        // webpki's reason comes boxed in `Other`: a certificate with basicConstraints
        // CA:TRUE (what a plain `openssl req -x509` makes) served as the relay's own.
        E::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
            "the relay's certificate is a CA certificate (basicConstraints CA:TRUE); the relay \
             needs a leaf certificate with basicConstraints CA:FALSE issued by the CA you trust"
        }
        E::UnknownIssuer => {
            "the relay's certificate does not chain to a CA this client trusts: with --ca-file, \
             give the CA certificate that issued the relay's certificate; without it, the relay \
             needs a certificate from a public CA"
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "the relay's certificate is not for the host name in the relay URL: its \
             subjectAltName must name that host (DNS) or address (IP)"
        }
        E::Expired | E::ExpiredContext { .. } => "the relay's certificate has expired",
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "the relay's certificate is not valid yet (check this machine's clock)"
        }
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => {
            "the relay's certificate is not for TLS servers: its extendedKeyUsage must allow \
             serverAuth"
        }
        E::BadSignature | E::BadEncoding => {
            "the relay's certificate is damaged or was not signed by the CA it names"
        }
        other => return format!("the relay's certificate was refused ({other:?}); {TLS_DOCS}"),
    };
    format!("{fix} — {TLS_DOCS}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_parse_to_endpoints() {
        let plain = Endpoint::parse("ws://127.0.0.1:8080/v1/ws").unwrap();
        assert!(!plain.secure);
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 8080));
        let tls = Endpoint::parse("wss://relay.example.org/v1/ws").unwrap();
        assert!(tls.secure);
        assert_eq!((tls.host.as_str(), tls.port), ("relay.example.org", 443));
        let v6 = Endpoint::parse("wss://[::1]:9443/v1/ws").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9443));
        assert_eq!(v6.authority, "[::1]:9443");
    }

    #[test]
    fn other_schemes_and_hostless_urls_are_refused() {
        for url in [
            "http://relay.example.org/v1/ws",
            "https://relay.example.org/v1/ws",
            "relay.example.org",
            "ws:///v1/ws",
            "",
        ] {
            assert!(
                matches!(Endpoint::parse(url), Err(ClientError::InvalidUrl(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        assert!(matches!(
            TlsTrust::from_pem(b"nothing here"),
            Err(ClientError::Tls(_))
        ));
        assert!(matches!(
            TlsTrust::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(ClientError::Tls(_))
        ));
        assert!(TlsTrust::public_roots().roots.len() > 50);
    }
}
