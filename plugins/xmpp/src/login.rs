//! From a TCP connection to a bound XMPP session (RFC 6120): the stream header, STARTTLS and
//! the TLS handshake, SASL (SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN, as the server offers, through
//! tokio-xmpp), the stream restart and the resource binding. The password goes into SASL and
//! nowhere else.

use crate::config::{Settings, StartTls};
use crate::wire::{Budget, Tls, Wire};
use futures_util::{SinkExt, StreamExt};
use std::borrow::Cow;
use std::fmt;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::error::{AuthError, Error as XmppError};
use tokio_xmpp::jid::FullJid;
use tokio_xmpp::parsers::bind::BindQuery;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::starttls::{Nonza, Request};
use tokio_xmpp::parsers::stream_features::StreamFeatures;
use tokio_xmpp::xmlstream::{initiate_stream, ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement};
use tokio_xmpp::Stanza;

/// A logged-in stream.
pub type Stream = XmppStream<Wire>;

/// The id of the binding request.
const BIND_ID: &str = "ruvuma-bind";

/// Why a connection did not get as far as a bound session.
#[derive(Debug)]
pub enum LoginError {
    Connect(std::io::Error),
    /// The server offers no STARTTLS and `starttls` is `required`.
    NoTls,
    Tls(String),
    /// The server refused the credentials, with its reason.
    Refused(String),
    /// Anything else that went wrong on the way: what, and at which step.
    Stream(&'static str, String),
    Timeout,
}

impl LoginError {
    /// The status report's type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Connect(_) => "connect_failed",
            Self::NoTls | Self::Tls(_) => "tls_failed",
            _ => "login_failed",
        }
    }
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::NoTls => write!(
                f,
                "the server does not offer STARTTLS and starttls is required (set starttls: optional or off to go on without TLS)"
            ),
            Self::Tls(e) => write!(f, "{e}"),
            Self::Refused(why) => write!(f, "the server refused the credentials: {why}"),
            Self::Stream(step, e) => write!(f, "{step} failed: {e}"),
            Self::Timeout => write!(f, "no bound session within login_timeout"),
        }
    }
}

/// A bound session: the stream and the full JID the server gave it.
pub struct Session {
    pub stream: Stream,
    pub jid: FullJid,
}

fn timeouts(s: &Settings) -> Timeouts {
    // The transport's own pings find a dead stream; the parser's timeouts only back them up.
    let quiet = (s.ping_interval + s.ping_timeout) * 2;
    Timeouts {
        read_timeout: quiet,
        response_timeout: quiet,
    }
}

/// Opens the stream on `wire` and reads the server's features.
async fn start(wire: Wire, s: &Settings, step: &'static str) -> Result<(StreamFeatures, Stream), LoginError> {
    let header = StreamHeader {
        to: Some(Cow::Owned(s.jid.domain().to_string())),
        from: None,
        id: None,
    };
    let pending = initiate_stream(wire, ns::JABBER_CLIENT, header, timeouts(s))
        .await
        .map_err(|e| LoginError::Stream(step, e.to_string()))?;
    pending
        .recv_features()
        .await
        .map_err(|e| LoginError::Stream(step, e.to_string()))
}

/// The next element from the server during the login, skipping soft timeouts.
async fn next(stream: &mut Stream, step: &'static str) -> Result<XmppStreamElement, LoginError> {
    loop {
        let got = stream.next().await;
        stream.get_stream().get_ref().reset();
        match got.map(|r| r.and_then(|el| el.into_read_error())) {
            Some(Ok(el)) => return Ok(el),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(LoginError::Stream(step, e.to_string())),
            None => return Err(LoginError::Stream(step, "the server closed the stream".into())),
        }
    }
}

/// STARTTLS: asks, waits for `<proceed/>`, and shakes hands on the same connection.
async fn starttls(mut stream: Stream, tls: &Tls, limit: usize) -> Result<Wire, LoginError> {
    let step = "STARTTLS";
    let ask = XmppStreamElement::Starttls(Nonza::Request(Request));
    stream
        .send(&ask)
        .await
        .map_err(|e| LoginError::Stream(step, e.to_string()))?;
    loop {
        match next(&mut stream, step).await? {
            XmppStreamElement::Starttls(Nonza::Proceed(_)) => break,
            XmppStreamElement::StreamError(e) => {
                return Err(LoginError::Tls(format!("the server refused STARTTLS: {e}")))
            }
            other => tracing::debug!("xmpp: {other:?} before <proceed/> skipped"),
        }
    }
    let plain = stream.into_inner().into_inner().into_inner();
    let encrypted = tls.connect(plain).await.map_err(LoginError::Tls)?;
    Ok(BufStream::new(Budget::new(encrypted, limit)))
}

/// SASL, then the stream restart: the features of the authenticated stream.
async fn authenticate(
    stream: Stream,
    features: StreamFeatures,
    s: &Settings,
) -> Result<(StreamFeatures, Stream), LoginError> {
    let user = s.jid.node().map(|n| n.to_string()).unwrap_or_default();
    let creds = sasl_credentials(user, s.raw.password.clone());
    let restarted = match tokio_xmpp::client_login(stream, features.sasl_mechanisms, creds).await {
        Ok(stream) => stream,
        Err(XmppError::Auth(AuthError::Fail(why))) => return Err(LoginError::Refused(condition(&format!("{why:?}")))),
        Err(XmppError::Auth(AuthError::NoMechanism)) => {
            return Err(LoginError::Refused(
                "the server offers no SASL mechanism this client speaks (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN)".into(),
            ))
        }
        Err(e) => return Err(LoginError::Stream("SASL", e.to_string())),
    };
    let header = StreamHeader {
        to: Some(Cow::Owned(s.jid.domain().to_string())),
        from: None,
        id: None,
    };
    let pending = restarted
        .send_header(header)
        .await
        .map_err(|e| LoginError::Stream("the stream restart after SASL", e.to_string()))?;
    pending
        .recv_features()
        .await
        .map_err(|e| LoginError::Stream("the stream restart after SASL", e.to_string()))
}

fn sasl_credentials(user: String, password: String) -> sasl::common::Credentials {
    sasl::common::Credentials::default()
        .with_username(user)
        .with_password(password)
        .with_channel_binding(sasl::common::ChannelBinding::None)
}

/// A SASL condition by its RFC 6120 name (`NotAuthorized` is `not-authorized`), with what it
/// most often means.
fn condition(debug: &str) -> String {
    let mut name = String::new();
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    match name.as_str() {
        "not-authorized" => format!("{name} (the username or the password is wrong)"),
        "account-disabled" => format!("{name} (the server has disabled this account)"),
        _ => name,
    }
}

/// Binds `resource`: the full JID the server answers with.
async fn bind(stream: &mut Stream, resource: &str) -> Result<FullJid, LoginError> {
    let step = "resource binding";
    let ask = Iq::from_set(BIND_ID, BindQuery::new(Some(resource.to_owned())));
    let el = XmppStreamElement::Stanza(Stanza::Iq(ask));
    stream
        .send(&el)
        .await
        .map_err(|e| LoginError::Stream(step, e.to_string()))?;
    loop {
        match next(stream, step).await? {
            XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, payload, .. })) if id == BIND_ID => {
                let text = payload
                    .as_ref()
                    .and_then(|p| p.get_child("jid", ns::BIND))
                    .map(|j| j.text())
                    .unwrap_or_default();
                return FullJid::new(text.trim())
                    .map_err(|e| LoginError::Stream(step, format!("the server bound {text:?}, not a full JID: {e}")));
            }
            XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id, error, .. })) if id == BIND_ID => {
                return Err(LoginError::Stream(
                    step,
                    format!("refused: {:?}", error.defined_condition),
                ))
            }
            XmppStreamElement::StreamError(e) => return Err(LoginError::Stream(step, e.to_string())),
            other => tracing::debug!("xmpp: {other:?} before the binding's answer skipped"),
        }
    }
}

/// Connects to the server and gets as far as a bound session.
pub async fn open(s: &Settings, tls: Option<&Tls>) -> Result<Session, LoginError> {
    let tcp = TcpStream::connect((s.raw.host.as_str(), s.raw.port))
        .await
        .map_err(LoginError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let limit = s.raw.max_stanza_size;
    let wire = BufStream::new(Budget::new(Box::new(tcp), limit));
    let (mut features, mut stream) = start(wire, s, "the stream's opening").await?;
    match (features.can_starttls(), s.raw.starttls, tls) {
        (true, StartTls::Required | StartTls::Optional, Some(tls)) => {
            let wire = starttls(stream, tls, limit).await?;
            (features, stream) = start(wire, s, "the stream's opening over TLS").await?;
        }
        (false, StartTls::Required, _) => return Err(LoginError::NoTls),
        _ => {}
    }
    let (_, mut stream) = authenticate(stream, features, s).await?;
    let jid = bind(&mut stream, s.raw.resource.trim()).await?;
    Ok(Session { stream, jid })
}

#[cfg(test)]
mod tests {
    #[test]
    fn sasl_conditions_by_their_rfc_names() {
        assert_eq!(
            super::condition("NotAuthorized"),
            "not-authorized (the username or the password is wrong)"
        );
        assert_eq!(super::condition("TemporaryAuthFailure"), "temporary-auth-failure");
    }
}
