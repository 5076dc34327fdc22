//! A tiny HTTP/1.1 origin on loopback that records what it sees.
//!
//! Routes: `/slow` sleeps before answering, `/echo` returns the request body,
//! `/teapot` answers 418, `/c/…` is a cacheable resource shaped by its query (see
//! [`cacheable`]), anything else 200 with a body naming the target.
//! Every response carries hop-by-hop fields the shield must strip.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long `/slow` waits before answering.
pub(crate) const SLOW: Duration = Duration::from_secs(3);

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Seen {
    /// The value of header `name` (case-insensitive), if sent.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A running origin; [`Origin::stop`] closes its listening socket.
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts on a free loopback port.
    pub(crate) fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        let acceptor = Some(thread::spawn(move || accept_loop(listener, s, st)));
        Origin { addr, seen, stop, acceptor }
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen so far whose target starts with `prefix`.
    pub(crate) fn seen(&self, prefix: &str) -> Vec<Seen> {
        let all = self.seen.lock().expect("lock");
        all.iter().filter(|s| s.target.starts_with(prefix)).cloned().collect()
    }

    /// Stops accepting and closes the listening socket.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.acceptor.take() {
            handle.join().expect("acceptor");
        }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: TcpListener, seen: Arc<Mutex<Vec<Seen>>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let seen = seen.clone();
                thread::spawn(move || serve(stream, &seen));
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<Seen>>) {
    stream.set_nonblocking(false).ok();
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader) else { return };
    let served_before = {
        let mut all = seen.lock().expect("lock");
        let n = all.iter().filter(|s| s.target == request.target).count();
        all.push(request.clone());
        n
    };
    let reply = route(&request, served_before + 1);
    let mut head = String::new();
    if request.target.contains("early=1") {
        head.push_str(EARLY);
    }
    head.push_str(&format!(
        "HTTP/1.1 {} X\r\nContent-Type: text/plain\r\n\
         Keep-Alive: timeout=5\r\nConnection: close, x-origin-hop\r\nX-Origin-Hop: secret\r\n",
        reply.status
    ));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = if reply.chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        let mut framed = Vec::new();
        for chunk in reply.body.chunks(4096) {
            framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
        }
        framed.extend_from_slice(b"0\r\n\r\n");
        framed
    } else {
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        reply.body
    };
    let mut stream = reader.into_inner();
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

/// The interim responses sent before the final one when the target has `early=1`.
pub(crate) const EARLY: &str = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                                HTTP/1.1 102 Processing\r\n\r\n";

/// An origin `Date` far from the shield's clock, sent when the target has `date=1`.
pub(crate) const ORIGIN_DATE: &str = "Tue, 01 Dec 2026 08:00:00 GMT";

/// What the origin answers.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
}

impl Reply {
    fn plain(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: Vec::new(), body, chunked: false }
    }
}

fn route(request: &Seen, nth: usize) -> Reply {
    let path = request.target.split('?').next().unwrap_or("");
    match path {
        "/slow" => {
            thread::sleep(SLOW);
            Reply::plain(200, b"finally".to_vec())
        }
        "/echo" => Reply::plain(200, request.body.clone()),
        "/teapot" => Reply::plain(418, format!("teapot {}", request.target).into_bytes()),
        p if p.starts_with("/c/") => cacheable(request, nth),
        _ => Reply::plain(200, format!("hello from origin {}", request.target).into_bytes()),
    }
}

/// `/c/…?cc=…&delay=ms&tag=…&etag=…&vary=…&cookie=1&status=N&size=N&chunked=1`: a response
/// with that `Cache-Control`, after that delay, tagged, with that `ETag` (answering a matching
/// `If-None-Match` with 304), `Vary`, a `Set-Cookie`, that status, a body of `size` bytes
/// (chunked if asked); otherwise the body says which fetch of this target it is: `… #nth`.
/// `+` in a value reads as a space. `rev=1` adds `X-Revision: nth` and a `Date` of now (`old`
/// seconds earlier on the first fetch);
/// `cc304=…` is the `Cache-Control` of a 304 instead of `cc`; `date=1` sends [`ORIGIN_DATE`];
/// `early=1` sends [`EARLY`] first. A request's `X-Reply-Status` overrides the status and its
/// `X-Reply-Location` is sent as `Location`, so one URL can answer differently per request.
fn cacheable(request: &Seen, nth: usize) -> Reply {
    let query = request.target.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.replace('+', " ")))
    };
    if let Some(ms) = param("delay").and_then(|v| v.parse().ok()) {
        thread::sleep(Duration::from_millis(ms));
    }
    let mut headers = Vec::new();
    for (field, name) in [("cc", "Cache-Control"), ("tag", "Cache-Tag"), ("vary", "Vary")] {
        if let Some(value) = param(field) {
            headers.push((name.to_owned(), value));
        }
    }
    if param("cookie").is_some() {
        headers.push(("Set-Cookie".to_owned(), "session=abc".to_owned()));
    }
    if param("rev").is_some() {
        let now = std::time::SystemTime::now();
        let back = if nth == 1 { param("old").and_then(|v| v.parse().ok()).unwrap_or(0) } else { 0 };
        headers.push(("X-Revision".to_owned(), nth.to_string()));
        headers.push(("Date".to_owned(), httpdate::fmt_http_date(now - Duration::from_secs(back))));
    }
    if param("date").is_some() {
        headers.push(("Date".to_owned(), ORIGIN_DATE.to_owned()));
    }
    if let Some(etag) = param("etag") {
        let etag = format!("\"{etag}\"");
        headers.push(("ETag".to_owned(), etag.clone()));
        if request.header("if-none-match") == Some(etag.as_str()) {
            if let Some(cc) = param("cc304") {
                headers.retain(|(k, _)| k != "Cache-Control");
                headers.push(("Cache-Control".to_owned(), cc));
            }
            return Reply { status: 304, headers, body: Vec::new(), chunked: false };
        }
    }
    if let Some(location) = request.header("x-reply-location") {
        headers.push(("Location".to_owned(), location.to_owned()));
    }
    let status = request.header("x-reply-status").map(str::to_owned).or_else(|| param("status"));
    let status = status.and_then(|v| v.parse().ok()).unwrap_or(200);
    let body = match param("size").and_then(|v| v.parse().ok()) {
        Some(size) => vec![b'x'; size],
        None => format!("body {} #{nth}", request.target).into_bytes(),
    };
    Reply { status, headers, body, chunked: param("chunked").is_some() }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let headers = crate::client::read_headers(reader)?;
    let mut seen = Seen { method, target, headers, body: Vec::new() };
    seen.body = crate::client::read_body(reader, &seen.headers, false)?;
    Some(seen)
}
