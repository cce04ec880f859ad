//! `confidant-relay`: the relay binary. A thin shell over the `confidant_relay` library:
//! read the settings (file < environment < flags), harden the process, start logging and
//! metrics, bind the admin listener, start the relay, reload on SIGHUP or file change, and
//! shut down gracefully on SIGTERM or Ctrl-C.
#![forbid(unsafe_code)]

mod args;
mod dev;
mod hardening;
mod logging;
mod reload;
mod settings;

use confidant_crypto::wall_clock::unix_now as now_unix;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;
use confidant_relay::admin::{self, AdminState};
use confidant_relay::{RelayConfig, StartError};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use args::Args;
use settings::Settings;

/// Exit status for a configuration error (nothing was started).
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    if args.dev && args.config.is_some() {
        eprintln!("confidant-relay: config: --dev brings its own programs; drop --config or --dev");
        return ExitCode::from(EXIT_CONFIG);
    }
    let settings = match settings::read_file(args.config.as_deref())
        .and_then(|file| settings::resolve(&args, file, now_unix()))
    {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("confidant-relay: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // Before any thread exists, so every thread inherits it.
    let hardening = hardening::harden(settings.lock_memory);
    logging::init(settings.log_format, settings.log_level.as_deref());
    hardening::report(
        &hardening,
        args.dev,
        settings.log_format == args::LogFormat::Text,
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("confidant-relay: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args, settings))
}

async fn run(args: Args, settings: Settings) -> ExitCode {
    // The Prometheus recorder, rendered by our admin route (no listener of its own).
    let prometheus = match confidant_relay::metrics::install_prometheus() {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("confidant-relay: cannot set up metrics: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The admin listener comes up first, so /readyz answers 503 while the relay starts.
    let admin_state = AdminState::new(Some(prometheus));
    admin_state.set_ready(false);
    let admin_listener = match tokio::net::TcpListener::bind(settings.admin_listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "confidant-relay: admin_listen: cannot listen on {}: {error} (another process may have the port: choose another with --admin-listen)",
                settings.admin_listen
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let admin_addr = admin_listener.local_addr().unwrap_or(settings.admin_listen);
    let admin_served = admin_state.clone();
    tokio::spawn(async move {
        if admin::serve(admin_listener, admin_served).await.is_err() {
            tracing::error!(kind = "admin_failed", "admin listener stopped");
        }
    });

    let dev_programs = if args.dev {
        match dev::DevProgram::seed(args.dev_seed.as_deref()) {
            Ok(programs) => programs,
            Err(error) => {
                eprintln!("confidant-relay: cannot create dev keys: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        Vec::new()
    };
    let programs = if args.dev {
        let wait = args.dev_wait_limit.map(Duration::from_secs);
        dev_programs.iter().map(|p| p.config(wait)).collect()
    } else {
        settings.programs.clone()
    };
    let mut config = RelayConfig::new(settings.listen, programs);
    config.limits = settings.limits;
    config.tls = settings.tls.clone();
    config.cluster = settings.cluster.clone();
    config.allowed_origins = settings.allowed_origins.clone();
    let relay = match confidant_relay::start(config).await {
        Ok(relay) => relay,
        Err(error) => {
            // Every value was checked before this point; what is left is still the
            // operator's to fix (a busy port, a file changed since), so it is a
            // configuration error too.
            match &error {
                StartError::Bind(reason) => eprintln!(
                    "confidant-relay: listen: cannot listen on {}: {reason} (another process may have the port: choose another with --listen)",
                    settings.listen
                ),
                StartError::Tls(tls) => eprintln!("confidant-relay: {tls}"),
                _ => eprintln!("confidant-relay: programs: {error}"),
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    admin_state.set_relay(relay.observer());
    let addr = relay.local_addr();
    let demo_stop = CancellationToken::new();
    if args.dev {
        if let Some(dir) = &args.dev_peer_credential_dir {
            let written = dev_programs
                .first()
                .ok_or_else(|| "no dev program".to_owned())
                .and_then(|program| dev::write_peer_credential(program, dir));
            if let Err(error) = written {
                eprintln!("confidant-relay: --dev-peer-credential-dir: {error}");
                relay.shutdown(Duration::ZERO).await;
                return ExitCode::FAILURE;
            }
        }
        let demo = !args.dev_no_demo_peer;
        dev::print_banner(
            addr,
            admin_addr,
            &dev_programs,
            demo,
            args.dev_seed.is_some(),
        );
        if demo {
            spawn_demo_peer(addr, &dev_programs, &demo_stop);
        }
    } else {
        println!("confidant-relay: listening on {addr} (admin {admin_addr})");
    }
    tracing::info!(
        kind = "listening",
        listen = %addr,
        admin = %admin_addr,
        tls = settings.tls.is_some(),
        "listening"
    );
    admin_state.set_ready(true);

    let deadline = settings.shutdown_deadline;
    tokio::select! {
        () = stop_signal() => {}
        () = reload::run(&args, &relay, settings) => {}
    }
    admin_state.set_ready(false);
    tracing::info!(
        kind = "shutdown_requested",
        deadline_secs = deadline.as_secs(),
        "stopping: clients are told and get the deadline to finish"
    );
    relay.shutdown(deadline).await;
    demo_stop.cancel();
    ExitCode::SUCCESS
}

/// SIGTERM (service managers, Kubernetes) or SIGINT (Ctrl-C).
async fn stop_signal() {
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Starts one in-process demo peer per dev program: a normal client of the relay over
/// loopback, labelled "not a real person" (the client crate refuses any other name).
fn spawn_demo_peer(addr: SocketAddr, programs: &[dev::DevProgram], stop: &CancellationToken) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("ws://{target}{}", confidant_proto::limits::WEBSOCKET_PATH);
    for program in programs {
        // A minute of slack for clock skew between "now" here and in the relay's checks.
        let credential = match confidant_client::demo_credential(
            program.authority.root(),
            program.id,
            now_unix() - 60,
            7,
        ) {
            Ok(credential) => credential,
            Err(error) => {
                tracing::warn!(kind = "demo_peer_failed", %error, "demo peer not started");
                continue;
            }
        };
        let url = url.clone();
        let id = program.id;
        let stop = stop.clone();
        tokio::spawn(async move {
            let result =
                confidant_client::run_demo_peer(&url, id, credential, stop.cancelled_owned()).await;
            if let Err(error) = result {
                tracing::info!(kind = "demo_peer_stopped", %error, "demo peer stopped");
            }
        });
    }
}
