//! A minimal HTTP/1.1 client over `std::net`, enough to see exactly what the shield sends.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response as received.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// Sends one request (closing the connection after it) and reads the whole response.
pub(crate) fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: shield.test\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("connection")) {
        head.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, method == "HEAD").ok_or_else(|| std::io::Error::other("bad response"))
}

/// `GET target` with no extra headers.
pub(crate) fn get(addr: SocketAddr, target: &str) -> std::io::Result<Response> {
    send(addr, "GET", target, &[], b"")
}

fn read_response(reader: &mut BufReader<TcpStream>, head_only: bool) -> Option<Response> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let headers = read_headers(reader)?;
    let body = if head_only { Vec::new() } else { read_body(reader, &headers, true)? };
    Some(Response { status, headers, body })
}

/// Reads header lines up to the blank line.
pub(crate) fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            return Some(headers);
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
}

/// Reads a body framed by `Content-Length`, chunked coding, or (responses only) EOF.
pub(crate) fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    until_eof: bool,
) -> Option<Vec<u8>> {
    let find = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    if let Some((_, v)) = find("transfer-encoding") {
        assert!(v.eq_ignore_ascii_case("chunked"), "unexpected coding {v}");
        return read_chunked(reader);
    }
    if let Some((_, v)) = find("content-length") {
        let mut buf = vec![0; v.parse().ok()?];
        reader.read_exact(&mut buf).ok()?;
        return Some(buf);
    }
    let mut buf = Vec::new();
    if until_eof {
        reader.read_to_end(&mut buf).ok()?;
    }
    Some(buf)
}

fn read_chunked(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            read_headers(reader)?; // trailers
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
}
