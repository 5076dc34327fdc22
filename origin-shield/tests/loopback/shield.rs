//! The real `origin-shield` binary as a child process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_origin-shield");
/// Upper bound on anything the tests wait for.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);
/// The shield's read timeout in these tests; the origin's `/slow` is well beyond it.
pub(crate) const READ_TIMEOUT_MS: u64 = 500;

/// A running shield process, killed (by its own pid) when dropped.
pub(crate) struct Shield {
    child: Child,
    pub(crate) addr: SocketAddr,
    _config: TempFile,
}

impl Shield {
    /// Starts the binary from a config file, with `--listen` and `--origin` given as flags.
    pub(crate) fn start(origin_url: &str) -> Shield {
        Shield::start_with(origin_url, "", &[])
    }

    /// Like [`Shield::start`], with `sections` (TOML tables) appended to the config and `env`
    /// set for the process.
    pub(crate) fn start_with(origin_url: &str, sections: &str, env: &[(&str, &str)]) -> Shield {
        let addr = free_port();
        let config = TempFile::new(&format!(
            "listen = \"127.0.0.1:1\"\nregion = \"eu-west\"\norigin = \"http://127.0.0.1:1\"\n\
             health_check_path = \"/healthz\"\n\
             [timeouts]\nconnect_ms = 500\nread_ms = {READ_TIMEOUT_MS}\n\
             [health]\ninterval_ms = 100\ntimeout_ms = 200\nrise = 1\nfall = 1\n{sections}"
        ));
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&config.0)
            .args(["--listen", &addr.to_string(), "--origin", origin_url])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .env_remove("SHIELD_PURGE_SECRET")
            .envs(env.iter().copied())
            .spawn()
            .expect("spawn origin-shield");
        wait_for_ready_line(&mut child, addr);
        Shield { child, addr, _config: config }
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub(crate) fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success());
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("shield did not exit within {DEADLINE:?} of SIGTERM");
    }
}

impl Drop for Shield {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_ready_line(child: &mut Child, addr: SocketAddr) {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx.recv_timeout(DEADLINE).expect("ready line within deadline");
    assert_eq!(line, format!("origin-shield eu-west listening on http://{addr}"));
}

/// A config file removed on drop.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl TempFile {
    pub(crate) fn new(text: &str) -> TempFile {
        let port = free_port().port();
        let path = std::env::temp_dir().join(format!("shield-test-{}-{port}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write config");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port")
}
