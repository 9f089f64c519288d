//! The link to the SSMI server, kept up for as long as the transport runs: connect, log in,
//! serve the connection (`conn`), and when it goes, connect again after a delay that doubles
//! from `reconnect_delay` to `reconnect_max_delay` (back to the first after a good login).
//! Every change is a status report (`logged_in`, `connect_failed`, `login_failed`,
//! `connection_lost`, `stopped`). The password goes into the login line and nowhere else.

use crate::config::Settings;
use crate::frame::{self, Response, LOGIN_OK};
use crate::inbound::Inbound;
use crate::lines::{LineReader, Read};
use crate::text::Shown;
use ruvuma_plugin_api::{Context, Message, Status, StatusLevel};
use std::fmt;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

/// Lines the server may send before it answers the login (each one is logged and skipped).
const MAX_LINES_BEFORE_LOGIN: usize = 20;

/// A message on its way to the writer, with the line that carries it.
pub struct Out {
    pub line: Vec<u8>,
    pub msg: Message,
}

pub type Lines = LineReader<BufReader<OwnedReadHalf>>;

/// What the transport and the connection share.
pub struct Link {
    pub ctx: Context,
    pub settings: Arc<Settings>,
    pub inbound: Inbound,
    /// The writer's queue while logged in; `Err` holds why the link is down.
    outbox: Mutex<Result<mpsc::Sender<Out>, String>>,
    pub stop: watch::Sender<bool>,
    pub draining: watch::Sender<bool>,
}

/// Why a connection did not get as far as a login.
#[derive(Debug)]
pub enum LoginError {
    Connect(std::io::Error),
    Refused(&'static str),
    Io(std::io::Error),
    Closed,
    Timeout,
    /// The server sent this many lines and no answer to the login.
    Chatter(usize),
}

impl LoginError {
    fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect_failed",
            _ => "login_failed",
        }
    }
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Refused(why) => write!(f, "the server refused the login: {why}"),
            Self::Io(e) => write!(f, "the connection failed during the login: {e}"),
            Self::Closed => write!(f, "the server closed the connection before answering the login"),
            Self::Timeout => write!(f, "no answer to the login within login_timeout"),
            Self::Chatter(n) => write!(f, "the server sent {n} lines and no answer to the login"),
        }
    }
}

/// Waits until `rx` holds `true` (or its sender is gone).
pub async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

impl Link {
    pub fn new(ctx: Context, settings: Arc<Settings>) -> Self {
        Self {
            inbound: Inbound::new(ctx.clone(), settings.clone()),
            ctx,
            settings,
            outbox: Mutex::new(Err("not logged in yet".into())),
            stop: watch::channel(false).0,
            draining: watch::channel(false).0,
        }
    }

    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    fn address(&self) -> String {
        format!("{}:{}", self.settings.raw.host, self.settings.raw.port)
    }

    /// Hands `out` to the writer, or says why it cannot go (its nack reason).
    pub fn send(&self, out: Out) -> Result<(), String> {
        let outbox = self.outbox.lock().map_err(|_| "ssmi: the link's state is poisoned")?;
        let tx = outbox.as_ref().map_err(|why| {
            format!(
                "the ssmi link to {} is down ({why}); the message was not sent",
                self.address()
            )
        })?;
        tx.try_send(out).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => format!(
                "{} messages already wait to be written to the ssmi server {} (it is not reading); the message was not sent",
                self.settings.raw.queue,
                self.address()
            ),
            mpsc::error::TrySendError::Closed(_) => {
                format!("the ssmi link to {} went down before the message was written", self.address())
            }
        })
    }

    /// Opens (`Ok`) or closes (`Err(why)`) the way to the writer.
    pub fn set_outbox(&self, state: Result<mpsc::Sender<Out>, String>) {
        if let Ok(mut outbox) = self.outbox.lock() {
            *outbox = state;
        }
    }

    pub async fn status(&self, level: StatusLevel, kind: &str, message: String) {
        match level {
            StatusLevel::Ok => tracing::info!("{message}"),
            _ => tracing::warn!("{message}"),
        }
        let raw = &self.settings.raw;
        let status = Status::new("ssmi", level, kind, message)
            .detail("host", raw.host.as_str())
            .detail("port", raw.port)
            .detail("username", raw.username.as_str());
        if let Err(e) = self.ctx.publish_status(&status).await {
            tracing::warn!("status report not published: {e}");
        }
    }

    /// Runs until the transport stops: log in, serve, and log in again with backoff.
    pub async fn run(self: Arc<Self>) {
        let mut delay = self.settings.reconnect_delay;
        let mut stop = self.stop.subscribe();
        while !self.stopping() {
            let login = tokio::select! {
                r = tokio::time::timeout(self.settings.login_timeout, self.login()) => r,
                _ = until_true(&mut stop) => break,
            };
            match login.unwrap_or(Err(LoginError::Timeout)) {
                Ok((lines, writer)) => {
                    delay = self.settings.reconnect_delay;
                    let who = format!("logged in to {} as {}", self.address(), self.settings.raw.username);
                    self.status(StatusLevel::Ok, "logged_in", who).await;
                    let reason = self.serve(lines, writer).await;
                    if self.stopping() {
                        self.status(StatusLevel::Down, "stopped", format!("ssmi link closed: {reason}"))
                            .await;
                        break;
                    }
                    let lost = format!("ssmi link to {} lost: {reason}", self.address());
                    self.status(StatusLevel::Down, "connection_lost", lost).await;
                }
                Err(e) => {
                    self.set_outbox(Err(e.to_string()));
                    let why = format!("ssmi login to {} failed: {e}", self.address());
                    self.status(StatusLevel::Down, e.kind(), why).await;
                }
            }
            tracing::info!("ssmi: connecting to {} again in {delay:?}", self.address());
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = until_true(&mut stop) => break,
            }
            delay = (delay * 2).min(self.settings.reconnect_max_delay);
        }
    }

    /// Connects and logs in: `Ok` once the server acks the login.
    async fn login(&self) -> Result<(Lines, OwnedWriteHalf), LoginError> {
        let raw = &self.settings.raw;
        let stream = TcpStream::connect((raw.host.as_str(), raw.port))
            .await
            .map_err(LoginError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (reader, mut writer) = stream.into_split();
        let mut lines = LineReader::new(BufReader::new(reader), raw.max_line);
        writer
            .write_all(&frame::login(&raw.username, &raw.password))
            .await
            .map_err(LoginError::Io)?;
        for _ in 0..MAX_LINES_BEFORE_LOGIN {
            let line = match lines.next().await.map_err(LoginError::Io)? {
                Read::Line(line) => line,
                Read::TooLong { bytes } => {
                    tracing::warn!("ssmi: a line of {bytes} bytes before the login's answer skipped (max_line)");
                    continue;
                }
                Read::End => return Err(LoginError::Closed),
            };
            match frame::parse(&line) {
                Ok(Response::Ack { kind }) if kind == LOGIN_OK.as_bytes() => return Ok((lines, writer)),
                Ok(Response::Nack { kind }) => return Err(LoginError::Refused(frame::nack_reason(kind))),
                Ok(_) => tracing::warn!("ssmi: {} before the login's answer skipped", Shown(&line)),
                Err(e) => tracing::warn!("ssmi: line from the server skipped: {e}: {}", Shown(&line)),
            }
        }
        Err(LoginError::Chatter(MAX_LINES_BEFORE_LOGIN))
    }
}
