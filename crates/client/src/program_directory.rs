//! Reading the relay's public program list (`GET /v1/programs`) and root keys in hex.
//!
//! The list is the relay's *claim*. Its `root_key` may only be used as the pinned key in a
//! demo where the user explicitly chose to trust the relay (the CLI's
//! `--trust-relay-root-key`); a real client ships or is configured with the key.
//!
//! A plain HTTP/1.1 GET over the same transport as the WebSocket (TCP, and TLS for a
//! `wss://` relay) is all this needs, so no HTTP client library is pulled in for one request.

use std::time::Duration;

use confidant_proto::ProgramInfo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::error::ClientError;
use crate::transport::{self, Endpoint, TlsTrust};

/// The most bytes of response read: a program list is a few kilobytes.
const MAX_RESPONSE: u64 = 1024 * 1024;

/// Fetches the programs a relay hosts, from its WebSocket URL (`ws://host:port/v1/ws` →
/// `http://host:port/v1/programs`; `wss://` → `https://`, trusting `trust`).
pub async fn fetch_programs(
    websocket_url: &str,
    trust: &TlsTrust,
    timeout: Duration,
) -> Result<Vec<ProgramInfo>, ClientError> {
    let endpoint = Endpoint::parse(websocket_url)?;
    let body = tokio::time::timeout(timeout, http_get(&endpoint, trust, "/v1/programs"))
        .await
        .map_err(|_| ClientError::Timeout)??;
    parse_program_list(&body)
}

pub(crate) async fn http_get(
    endpoint: &Endpoint,
    trust: &TlsTrust,
    path: &str,
) -> Result<Vec<u8>, ClientError> {
    let mut stream = transport::connect(endpoint, trust).await?;
    let authority = &endpoint.authority;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    let closed = |_| ClientError::ConnectionClosed { close_code: None };
    stream.write_all(request.as_bytes()).await.map_err(closed)?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE)
        .read_to_end(&mut response)
        .await
        .map_err(closed)?;
    split_response(&response, path)
}

/// Checks the status and returns the body (de-chunked if needed).
fn split_response(response: &[u8], path: &str) -> Result<Vec<u8>, ClientError> {
    let bad = || ClientError::ProtocolViolation("invalid HTTP response".to_owned());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let (head, rest) = response.split_at(split);
    let body = rest.get(4..).ok_or_else(bad)?;
    let head = std::str::from_utf8(head).map_err(|_| bad())?;
    let mut lines = head.split("\r\n");
    let status = lines.next().ok_or_else(bad)?;
    let code = status.split(' ').nth(1).ok_or_else(bad)?;
    if code != "200" {
        return Err(ClientError::ProtocolViolation(format!(
            "GET {path} answered HTTP {code}"
        )));
    }
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        dechunk(body).ok_or_else(bad)
    } else {
        Ok(body.to_vec())
    }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(body.get(..line_end)?).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = body.get(line_end + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Accepts a bare array or `{"programs": [...]}`.
fn parse_program_list(body: &[u8]) -> Result<Vec<ProgramInfo>, ClientError> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum List {
        Bare(Vec<ProgramInfo>),
        Wrapped { programs: Vec<ProgramInfo> },
    }
    match serde_json::from_slice::<List>(body) {
        Ok(List::Bare(programs) | List::Wrapped { programs }) => Ok(programs),
        Err(_) => Err(ClientError::ProtocolViolation(
            "GET /v1/programs did not return a program list".to_owned(),
        )),
    }
}

/// Parses a 32-byte key written as 64 hex digits (either case, surrounding space ignored).
pub fn parse_root_key(hex: &str) -> Result<[u8; 32], ClientError> {
    confidant_crypto::hex::decode::<32>(hex)
        .ok_or_else(|| ClientError::Credential("a root key is 64 hex digits".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let program = r#"[{"id":"p","name":"P","root_key":"00","topics":[],"languages":[],"peer_roles":[],"resources":[],"wait_limit_secs":5}]"#;
        let plain = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{program}",
            program.len()
        );
        let body = split_response(plain.as_bytes(), "/").unwrap();
        assert_eq!(parse_program_list(&body).unwrap()[0].id, "p");

        let wrapped = format!(r#"{{"programs":{program}}}"#);
        let chunked = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{wrapped}\r\n0\r\n\r\n",
            wrapped.len()
        );
        let body = split_response(chunked.as_bytes(), "/").unwrap();
        assert_eq!(parse_program_list(&body).unwrap()[0].name, "P");

        let missing = "HTTP/1.1 404 Not Found\r\n\r\n";
        assert!(split_response(missing.as_bytes(), "/").is_err());
    }

    #[test]
    fn root_key_hex() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_root_key(&hex).unwrap(), [0xab; 32]);
        assert_eq!(parse_root_key(&hex.to_uppercase()).unwrap(), [0xab; 32]);
        assert!(parse_root_key("abc").is_err());
        assert!(parse_root_key(&"zz".repeat(32)).is_err());
    }
}
