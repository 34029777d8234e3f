//! nginx run by a test: Debian's `nginx-light`, in the foreground and in its own process group,
//! from a directory of its own under `target/` (configuration, pid file, logs, temporary files),
//! so that nothing of the system's nginx set-up is read or written. What `make bench`
//! (`tests/bench/nginx.rs`) and `make scale-test` (`tests/scale/nginx.rs`) share; each writes its
//! own configuration and says when nginx is ready.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a test runs nginx.
pub struct Setup<'a> {
    /// The `make` target that installs nginx, named when there is none.
    pub make: &'a str,
    /// nginx's directory, created if missing.
    pub prefix: PathBuf,
    /// Whether the directory stays when nginx is stopped, for its logs, or is removed.
    pub keep_prefix: bool,
    /// An address with a port that is free now, such as `127.0.0.1:40123`.
    pub address: fn() -> String,
    /// The configuration, from nginx's directory and the address it listens on.
    pub config: &'a dyn Fn(&Path, &str) -> String,
    /// One request through nginx on the address: `Ok` once it is ready, else what was answered.
    pub probe: &'a mut dyn FnMut(&str) -> Result<(), String>,
    /// Between two probes; zero polls without pause, only yielding the processor.
    pub pause: Duration,
    /// How long nginx may take to be ready, and to stop.
    pub patience: Duration,
}

/// nginx started in its own process group; the group is ended when dropped, and its directory
/// removed unless it is kept.
pub struct Process {
    child: Child,
    pub addr: String,
    /// The binary it runs: `nginx` on the `PATH`, else in `/usr/sbin`.
    pub bin: PathBuf,
    pub prefix: PathBuf,
    keep_prefix: bool,
    patience: Duration,
}

impl Process {
    /// Starts nginx as `setup` says, and waits until its probe says it is ready; again on another
    /// address when it did not start (three times at most).
    pub fn start(setup: Setup) -> Process {
        let Setup {
            make,
            prefix,
            keep_prefix,
            address,
            config,
            probe,
            pause,
            patience,
        } = setup;
        let bin = binary(make);
        std::fs::create_dir_all(&prefix)
            .unwrap_or_else(|e| panic!("create {}: {e}", prefix.display()));
        let mut attempts = 0;
        loop {
            // The port was free a moment ago; another process may take it first.
            let addr = address();
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, config(&prefix, &addr))
                .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(&prefix)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(prefix.join("error.log"))
                .process_group(0)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            match until_ready(&addr, &mut child, probe, pause, patience) {
                Ok(()) => {
                    return Process {
                        child,
                        addr,
                        bin,
                        prefix,
                        keep_prefix,
                        patience,
                    }
                }
                Err(e) => {
                    stop(&mut child, patience);
                    attempts += 1;
                    assert!(
                        attempts < 3,
                        "nginx did not start ({e}); its log: {}",
                        error_log(&prefix)
                    );
                }
            }
        }
    }

    /// The master's process id, which is also its process group's.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        error_log(&self.prefix)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        stop(&mut self.child, self.patience);
        if !self.keep_prefix {
            let _ = std::fs::remove_dir_all(&self.prefix);
        }
    }
}

/// `nginx` on the `PATH`, else where Debian puts it (`/usr/sbin` is not on a user's `PATH`);
/// without one, the message names the `make` target that installs it.
fn binary(make: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|bin| bin.is_file())
        .unwrap_or_else(|| {
            panic!("no nginx on PATH nor in /usr/sbin: `{make}` installs Debian's nginx-light")
        })
}

/// The `user` directive a configuration starts with: started as root, nginx would run its
/// workers as `nobody`, who may not write in `target/`.
pub fn user() -> &'static str {
    if running_as_root() {
        "user root;\n"
    } else {
        ""
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

fn error_log(prefix: &Path) -> String {
    std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default()
}

/// Probes until nginx is ready, it exits, or `patience` runs out.
fn until_ready(
    addr: &str,
    child: &mut Child,
    probe: &mut dyn FnMut(&str) -> Result<(), String>,
    pause: Duration,
    patience: Duration,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let Err(answer) = probe(addr) else {
            return Ok(());
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        if started.elapsed() > patience {
            return Err(format!("not ready after {patience:?}: {answer}"));
        }
        if pause.is_zero() {
            thread::yield_now();
        } else {
            thread::sleep(pause);
        }
    }
}

/// Ends nginx's process group: `TERM` (the master stops its workers, waits for them, then exits),
/// and `KILL` to the whole group if the master is still there after `patience`.
fn stop(child: &mut Child, patience: Duration) {
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args([name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("-TERM");
    let started = Instant::now();
    while matches!(child.try_wait(), Ok(None)) {
        if started.elapsed() > patience {
            signal("-KILL");
            let _ = child.wait();
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}
