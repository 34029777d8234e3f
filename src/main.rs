//! airbyte-wrapper: start-up only. Reads the configuration, sets up logging, binds the listener
//! and hands over to the server. Exit codes: 0 normal, 1 runtime failure, 2 bad configuration or usage.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use log::{error, info, warn, Level, LevelFilter};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use airbyte_wrapper::config::{Config, VARIABLES};
use airbyte_wrapper::{app, server};

fn main() -> ExitCode {
    bound_malloc_arenas();
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("-h" | "--help") => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("airbyte-wrapper {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("airbyte-wrapper: unknown argument '{other}'; it is configured by environment variables, see --help");
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("airbyte-wrapper: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log_filter);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> Result<(), String> {
    let socket = std::net::TcpListener::bind(config.listen_addr)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen_addr))?;
    let address = socket.local_addr().map_err(|e| e.to_string())?;
    if config.api_token.is_none() && !address.ip().is_loopback() {
        warn!("API_TOKEN is not set and {address} is reachable from other hosts: anyone who can reach it can create Airbyte resources");
    }

    let ca_certificates = config.airbyte_ca.0.len();
    if ca_certificates > 0 {
        info!("AIRBYTE_CA_FILE holds {ca_certificates} CA certificate(s), trusted for Airbyte besides the web PKI roots");
        if !config.airbyte_base_url.starts_with("https://") {
            warn!("AIRBYTE_CA_FILE is set, but AIRBYTE_BASE_URL is not https://: it is not used");
        }
    }

    // The App serves requests through the route table (routes.rs implements server::Service).
    let app = Arc::new(app::App::new(&config));
    let limits = server::Limits {
        workers: config.workers,
        max_body_bytes: config.max_body_bytes,
        client_timeout: config.client_timeout,
        max_connections: config.max_connections,
    };
    let server = server::Server::start(socket, limits, app.clone(), app.metrics.clone())?;
    let finished = stop_on_signals(server.stopper(), config.shutdown_grace)?;
    // An interface, not only a message: test harnesses, the contract scripts and the benchmarks
    // wait for this line and read the address from it (`listening on http://ADDRESS `); the README
    // documents it. Reword it only together with them.
    info!(
        "listening on http://{address} with {} workers; Airbyte's {}",
        config.workers,
        app.airbyte.describe()
    );
    server.wait();
    let _ = finished.send(());
    info!("stopped");
    Ok(())
}

/// On SIGTERM or SIGINT (also as PID 1, where their default action would do nothing): stop
/// accepting and let in-flight requests finish; past `grace`, exit with code 1. Returns the
/// sender `run` signals on once every worker has stopped.
fn stop_on_signals(stopper: server::Stopper, grace: Duration) -> Result<mpsc::Sender<()>, String> {
    let mut signals =
        Signals::new([SIGTERM, SIGINT]).map_err(|e| format!("cannot handle signals: {e}"))?;
    let (finished, all_stopped) = mpsc::channel();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                info!(
                    "signal {signal}: stopping; in-flight requests have {} s to finish",
                    grace.as_secs()
                );
                stopper.stop();
                if all_stopped.recv_timeout(grace).is_err() {
                    error!(
                        "requests still running after SHUTDOWN_GRACE_SECS={}; exiting",
                        grace.as_secs()
                    );
                    std::process::exit(1);
                }
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(finished)
}

/// Every connection has a thread of its own, and glibc gives threads that allocate at the same
/// time arenas of their own, up to eight per core, each holding on to memory it once used: over a
/// long mixed load the resident memory grew to 19 MiB without a leak. Two arenas keep it flat
/// (11 MiB in the same run) at no measurable cost in speed.
fn bound_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before any thread but this one
    // has started.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Logs go to standard error. The HTTP and TLS libraries are capped at `warn` whatever `RUST_LOG`
/// says: at `debug` they print request details, which may carry credentials.
fn init_logging(filter: &str) {
    env_logger::Builder::new()
        .parse_filters(filter)
        .filter_module("ureq", LevelFilter::Warn)
        .filter_module("ureq_proto", LevelFilter::Warn)
        .filter_module("rustls", LevelFilter::Warn)
        // `TIMESTAMP LEVEL TARGET: MESSAGE`, put together in a buffer of its own and handed to
        // env_logger whole: each write into env_logger's buffer costs a shared borrow, and a line
        // is some twenty pieces. Every request writes one (the access log).
        .format(|out, record| {
            let mut line = Vec::with_capacity(192);
            timestamp(&mut line)?;
            // The level in five columns, as `{:<5}` would pad it, without the padding's cost.
            let level = match record.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN ",
                Level::Info => "INFO ",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            line.push(b' ');
            line.extend_from_slice(level.as_bytes());
            line.push(b' ');
            line.extend_from_slice(record.target().as_bytes());
            line.extend_from_slice(b": ");
            line.write_fmt(*record.args())?;
            line.push(b'\n');
            out.write_all(&line)
        })
        .init();
    std::panic::set_hook(Box::new(|panic| {
        let location = panic.location().map(|l| l.to_string()).unwrap_or_default();
        error!("panic at {location}");
    }));
}

/// Writes the time now as a log line starts with it: RFC 3339 in UTC, to the nanosecond
/// (`2026-12-05T12:39:51.626728168Z`). The date and time of day are formatted once a second per
/// thread and the nanoseconds as a number: every request writes a line (the access log).
fn timestamp(line: &mut Vec<u8>) -> std::io::Result<()> {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};
    thread_local! {
        /// A second since the epoch, and its `YYYY-MM-DDTHH:MM:SS`.
        static SECOND: RefCell<(u64, Vec<u8>)> = const { RefCell::new((0, Vec::new())) };
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|second| {
        let (at, text) = &mut *second.borrow_mut();
        if text.is_empty() || *at != now.as_secs() {
            let moment = i64::try_from(now.as_secs())
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            text.clear();
            moment
                .format_into(text, &time::format_description::well_known::Rfc3339)
                .map_err(std::io::Error::other)?;
            // Whole seconds end in `Z`, which the nanoseconds go before.
            text.pop();
            *at = now.as_secs();
        }
        line.extend_from_slice(text);
        Ok::<_, std::io::Error>(())
    })?;
    // `.{:09}Z`, the digits put in place rather than formatted with padding.
    let mut fraction = *b".000000000Z";
    let mut nanos = now.subsec_nanos();
    for digit in fraction[1..10].iter_mut().rev() {
        *digit = b'0' + (nanos % 10) as u8;
        nanos /= 10;
    }
    line.extend_from_slice(&fraction);
    Ok(())
}

fn help() -> String {
    let mut text = format!(
        "airbyte-wrapper {}\n\nCreates Airbyte sources, destinations and connections over a small HTTP API:\n  \
         POST /datasource, POST /sink, POST /ingestion, GET /healthz, GET /readyz,\n  \
         GET /openapi.json (this API as an OpenAPI 3.1 document)\n\n\
         Usage: airbyte-wrapper [--help | --version]\n\nConfigured by environment variables:\n",
        env!("CARGO_PKG_VERSION")
    );
    for variable in VARIABLES {
        text.push_str(&format!(
            "  {:<31} {}\n  {:<31} default: {}\n",
            variable.name,
            variable.meaning,
            "",
            variable.shown_default()
        ));
    }
    text
}
