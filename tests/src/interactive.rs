//! An interactive child process (the `confidant` CLI): lines to its stdin, waits for lines
//! on its stdout, bounded, with what it printed in the panic message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// An interactive child: stdin to write, stdout lines to wait for.
pub struct Interactive {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    /// Its stderr, line by line.
    pub stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Interactive {
    /// Starts `binary` in `dir` with `args`.
    pub fn spawn(binary: &Path, dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(binary)
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = forward(child.stdout.take().unwrap());
        let stderr = forward(child.stderr.take().unwrap());
        Self {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Waits (bounded) for a stdout line containing `needle`; returns it.
    pub fn expect(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    let stderr: Vec<String> = self.stderr.try_iter().collect();
                    panic!(
                        "no line with {needle:?}; saw {:?}; stderr {stderr:?}",
                        self.seen
                    )
                }
            }
        }
    }

    /// Writes one line to its stdin.
    pub fn say(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits (bounded) for a successful exit.
    pub fn wait_success(mut self) {
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit {status:?}; saw {:?}", self.seen);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("did not exit; saw {:?}", self.seen);
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
