//! A tiny HTTP/1.1 origin on loopback that records what it sees.
//!
//! Routes: `/slow` sleeps before answering, `/echo` returns the request body,
//! `/teapot` answers 418, anything else 200 with a body naming the target.
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
    seen.lock().expect("lock").push(request.clone());
    let (status, body) = route(&request);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\
         Keep-Alive: timeout=5\r\nConnection: close, x-origin-hop\r\nX-Origin-Hop: secret\r\n\r\n",
        body.len()
    );
    let mut stream = reader.into_inner();
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

fn route(request: &Seen) -> (u16, Vec<u8>) {
    let path = request.target.split('?').next().unwrap_or("");
    match path {
        "/slow" => {
            thread::sleep(SLOW);
            (200, b"finally".to_vec())
        }
        "/echo" => (200, request.body.clone()),
        "/teapot" => (418, format!("teapot {}", request.target).into_bytes()),
        _ => (200, format!("hello from origin {}", request.target).into_bytes()),
    }
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
