//! Opening one socket: TCP connect, HTTP upgrade (with the auth header), then REGISTER and wait
//! for REGISTER_ACK — all within `connect_timeout`, so a silent server is a TimeoutError, never a
//! hang.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, UrlError};
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION, USER_AGENT};
use tokio_tungstenite::tungstenite::http::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, WebSocket};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{CoreError, CoreResult, ErrorKind};
use crate::stamped_tcp::StampedTcp;
use crate::ws::caller_reader::StampedReads;
use crate::ws::config::{WsConfig, SEND_BACKLOG_LIMIT};
use crate::ws::frames::{decode_server_frame, encode_register, kind_for_error, ServerFrame, PONG_FRAME};
use crate::ws::log::DEBUG;
use crate::ws::split_socket::{split_for_caller, HeadOnly, SplitRegistration};
use crate::ws::write_only_tcp::WriteOnlyTcp;

pub type WsStream = WebSocketStream<MaybeTlsStream<StampedTcp>>;

/// A registered socket, read by the runtime or by the caller (`WsConfig::read_on_caller_thread`).
/// One per connection: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum SessionStream {
    Runtime(WsStream),
    Caller { writer: WebSocketStream<WriteOnlyTcp>, reader: WebSocket<StampedReads> },
}

/// How much tungstenite reads at most at once.
const READ_BUFFER: usize = 16 << 10;

/// A registered socket.
pub struct OpenedSocket {
    pub stream: SessionStream,
    pub session_id: String,
    /// The REGISTER_ACK text, for `on_message`.
    pub ack_text: String,
}

/// A socket just upgraded (one per connection: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Upgraded {
    Whole(WsStream),
    /// To be split for the caller's reader; nothing past the upgrade's head was read from it.
    ToSplit(tokio::net::TcpStream),
}

/// Connect, upgrade and register, or fail with a typed error within `connect_timeout`.
pub async fn open_socket(config: &WsConfig) -> CoreResult<OpenedSocket> {
    let deadline = Instant::now() + config.connect_timeout;
    let secs = config.connect_timeout.as_secs_f64();
    let request = upgrade_request(config)?;
    let ws_config = socket_config(config);
    // wss:// through rustls with the platform's roots (+ ca_bundle); ring, like the HTTP client.
    let connector = if config.url.starts_with("wss://") {
        Some(tokio_tungstenite::Connector::Rustls(crate::tls::client_config(config.ca_bundle.as_deref())?))
    } else {
        None
    };
    // The caller reads ws:// sockets when asked to; a wss:// one's TLS state cannot be shared by
    // the caller's reader and the runtime's writer.
    let split = config.read_on_caller_thread && connector.is_none();
    let connecting = async {
        let tcp = connect_tcp(&request).await?;
        if split {
            let (upgraded, _) =
                tokio_tungstenite::client_async_with_config(request, HeadOnly::new(tcp), Some(ws_config)).await?;
            Ok(Upgraded::ToSplit(upgraded.into_inner().into_inner()))
        } else {
            let (upgraded, _) = tokio_tungstenite::client_async_tls_with_config(
                request,
                StampedTcp::new(tcp),
                Some(ws_config),
                connector,
            )
            .await?;
            Ok(Upgraded::Whole(upgraded))
        }
    };
    let upgraded = match timeout_at(deadline, connecting).await {
        Ok(Ok(upgraded)) => upgraded,
        Ok(Err(e)) => return Err(upgrade_error(config, e)),
        Err(_) => {
            return Err(CoreError::new(
                ErrorKind::Timeout,
                format!("connecting to {} timed out after {secs:.1}s", config.url),
            ))
        }
    };
    let register = encode_register(&config.component_id, &config.capabilities, config.auth_token.as_deref());
    let registering = async {
        let (stream, (session_id, ack_text)) = match upgraded {
            Upgraded::Whole(mut whole) => {
                let ack = register_and_wait_ack(config, &mut whole, register).await?;
                (SessionStream::Runtime(whole), ack)
            }
            Upgraded::ToSplit(tcp) => {
                let (mut writer, mut reader) = split_for_caller(config, tcp).await?;
                let mut halves = SplitRegistration::new(&mut writer, &mut reader)?;
                let ack = register_and_wait_ack(config, &mut halves, register).await?;
                (SessionStream::Caller { writer, reader }, ack)
            }
        };
        Ok::<_, CoreError>(OpenedSocket { stream, session_id, ack_text })
    };
    match timeout_at(deadline, registering).await {
        Ok(Ok(opened)) => Ok(opened),
        Ok(Err(e)) => Err(CoreError { message: config.redact(&e.message), ..e }),
        Err(_) => {
            Err(CoreError::new(ErrorKind::Timeout, format!("no REGISTER_ACK from {} within {secs:.1}s", config.url)))
        }
    }
}

pub(crate) fn socket_config(config: &WsConfig) -> WebSocketConfig {
    // A bounded write buffer: a peer that never reads cannot make our pongs pile up in it.
    WebSocketConfig::default()
        .max_message_size(Some(config.max_message_size))
        .max_frame_size(Some(config.max_message_size))
        .max_write_buffer_size(SEND_BACKLOG_LIMIT)
        // tungstenite zero-fills the unused part of its read buffer before every read: at its
        // default 128 KiB that memset was ~7 % of the I/O thread with paced frames (one per read).
        .read_buffer_size(READ_BUFFER)
}

/// The TCP connection for `request`'s URL, Nagle off (a frame is written when it is ready).
async fn connect_tcp(request: &Request<()>) -> Result<TcpStream, WsError> {
    let uri = request.uri();
    let host = uri.host().ok_or(WsError::Url(UrlError::NoHostName))?;
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("wss")) => 443,
        (None, Some("ws")) => 80,
        _ => return Err(WsError::Url(UrlError::UnsupportedUrlScheme)),
    };
    // The URI's host keeps an IPv6 address in brackets, as `host:port` needs.
    let tcp = TcpStream::connect(format!("{host}:{port}")).await.map_err(WsError::Io)?;
    tcp.set_nodelay(true).map_err(WsError::Io)?;
    Ok(tcp)
}

fn upgrade_request(config: &WsConfig) -> CoreResult<Request<()>> {
    let mut request = config
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| CoreError::new(ErrorKind::InvalidRequest, format!("bad WebSocket URL {}: {e}", config.url)))?;
    let headers = request.headers_mut();
    let agent = concat!("tekton-llm-client/", env!("CARGO_PKG_VERSION"));
    headers.insert(USER_AGENT, HeaderValue::from_static(agent));
    if let Ok(component) = HeaderValue::from_str(&config.component_id) {
        headers.insert("X-Tekton-Component", component);
    }
    if let Some(token) = config.auth_token.as_deref() {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| CoreError::new(ErrorKind::InvalidRequest, "the auth token is not a valid header value"))?;
        value.set_sensitive(true);
        headers.insert(AUTHORIZATION, value);
    }
    Ok(request)
}

fn upgrade_error(config: &WsConfig, e: WsError) -> CoreError {
    let url = &config.url;
    match e {
        WsError::Http(response) if response.status().is_redirection() => {
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_else(|| "(no Location header)".to_owned());
            CoreError::new(ErrorKind::Connection, redirect_refused(url, status, &location)).with_status(status)
        }
        WsError::Http(response) => {
            let status = response.status().as_u16();
            let kind = ErrorKind::from_status(status);
            let what = if kind == ErrorKind::Authentication {
                "Rhetor refused the auth token"
            } else {
                "Rhetor refused the WebSocket upgrade"
            };
            CoreError::new(kind, format!("{what} at {url}")).with_status(status)
        }
        WsError::Url(UrlError::TlsFeatureNotEnabled) => CoreError::new(
            ErrorKind::InvalidRequest,
            format!(
                "{url}: wss:// needs TLS, which this build of the Rust backend lacks (use TEKTON_LLM_BACKEND=python)"
            ),
        ),
        WsError::Url(u) => CoreError::new(ErrorKind::InvalidRequest, format!("bad WebSocket URL {url}: {u}")),
        other => {
            CoreError::new(ErrorKind::Connection, config.redact(&format!("cannot open a WebSocket to {url}: {other}")))
        }
    }
}

/// The error for a redirected upgrade: never followed, since the token would go along to
/// wherever it points.
pub fn redirect_refused(url: &str, status: u16, location: &str) -> String {
    format!(
        "Rhetor at {url} answered the WebSocket upgrade with a redirect ({status}) to {location}; \
         redirects are not followed on the WebSocket upgrade (the auth token would go along): \
         set ws_url to the new address if you trust it"
    )
}

/// Where REGISTER goes and its answer comes from: the whole stream, or a split one's two halves.
pub(crate) trait RegistrationIo {
    async fn send_message(&mut self, message: Message) -> Result<(), WsError>;
    /// The next message; None once the connection has closed.
    async fn next_message(&mut self) -> Option<Result<Message, WsError>>;
}

impl RegistrationIo for WsStream {
    async fn send_message(&mut self, message: Message) -> Result<(), WsError> {
        self.send(message).await
    }

    async fn next_message(&mut self) -> Option<Result<Message, WsError>> {
        self.next().await
    }
}

/// Send REGISTER and read until REGISTER_ACK. Returns (session_id, ack text).
async fn register_and_wait_ack(
    config: &WsConfig,
    stream: &mut impl RegistrationIo,
    register: String,
) -> CoreResult<(String, String)> {
    if let Err(e) = stream.send_message(Message::text(register)).await {
        // A server that refuses the token may already have sent ERROR and closed: read on, so
        // the caller learns why rather than "broken pipe".
        config.log(DEBUG, &format!("sending REGISTER failed: {e}"));
    }
    loop {
        let message = match stream.next_message().await {
            None => {
                return Err(CoreError::new(ErrorKind::Connection, "Rhetor closed the connection before REGISTER_ACK"))
            }
            Some(Err(e)) => {
                return Err(CoreError::new(ErrorKind::Connection, format!("WebSocket error before REGISTER_ACK: {e}")))
            }
            Some(Ok(message)) => message,
        };
        match message {
            Message::Text(text) => match decode_server_frame(text.as_str()) {
                Ok(ServerFrame::RegisterAck { session_id }) => {
                    return Ok((session_id.unwrap_or_default(), text.as_str().to_owned()))
                }
                Ok(ServerFrame::Error(err)) => {
                    let kind = kind_for_error(err.code.as_deref(), err.status);
                    let message = if kind == ErrorKind::Authentication {
                        format!("Rhetor refused the registration: {}", err.error)
                    } else {
                        format!("Rhetor answered REGISTER with an error: {}", err.error)
                    };
                    return Err(CoreError::new(kind, message).with_code(err.code));
                }
                Ok(ServerFrame::Ping) => {
                    stream
                        .send_message(Message::text(PONG_FRAME))
                        .await
                        .map_err(|e| CoreError::new(ErrorKind::Connection, format!("WebSocket error: {e}")))?;
                }
                Ok(ServerFrame::Pong) => config.log(DEBUG, "PONG before REGISTER_ACK ignored"),
                // Nothing else can precede REGISTER_ACK in v1 (no request has been sent): a server
                // that answers REGISTER otherwise (Gen A's RESPONSE envelope) does not speak v1's
                // /ws, and waiting out connect_timeout would not change that.
                other => {
                    let what = match other {
                        Ok(frame) => format!("a {} frame", frame_name(&frame)),
                        Err(bad) => format!("a frame v1 cannot read ({})", bad.reason),
                    };
                    return Err(CoreError::new(
                        ErrorKind::Protocol,
                        format!("Rhetor answered REGISTER with {what}, not REGISTER_ACK: it does not speak protocol v1's /ws"),
                    ));
                }
            },
            Message::Close(frame) => {
                let (code, reason) =
                    frame.map(|f| (f.code, f.reason.as_str().to_owned())).unwrap_or((CloseCode::Status, String::new()));
                let refused =
                    matches!(u16::from(code), 1008 | 4001 | 4003) || reason.to_ascii_lowercase().contains("auth");
                let kind = if refused { ErrorKind::Authentication } else { ErrorKind::Connection };
                return Err(CoreError::new(
                    kind,
                    format!("Rhetor closed the connection before REGISTER_ACK (code {code}: {reason})"),
                ));
            }
            _ => {}
        }
    }
}

fn frame_name(frame: &ServerFrame) -> &str {
    match frame {
        ServerFrame::RegisterAck { .. } => "REGISTER_ACK",
        ServerFrame::Chunk(_) => "CHUNK",
        ServerFrame::Response(_) => "RESPONSE",
        ServerFrame::Error(_) => "ERROR",
        ServerFrame::Ping => "PING",
        ServerFrame::Pong => "PONG",
        ServerFrame::Other { frame_type } => frame_type,
    }
}
