//! `--listen ADDR`: `/metrics` and `/healthz` over HTTP (tiny_http), nothing else.
//!
//! The body of `/metrics` is set by the watch loop after each audit ([`Metrics::set`]); the server
//! thread only hands out the last one. Any other path is 404, any method but GET and HEAD 405;
//! nothing is ever read from the file system. The address defaults to loopback
//! ([`parse_listen`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The exposition served at `/metrics`.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<String>>);

impl Metrics {
    pub fn set(&self, body: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = body;
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `PORT`, `:PORT` (both on 127.0.0.1), `HOST:PORT` or `[V6]:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let port = s.strip_prefix(':').unwrap_or(s);
    if let Ok(port) = port.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("--listen {s}: not PORT, :PORT, ADDRESS:PORT or [IPV6]:PORT"))
}

/// Binds `addr` and serves from a thread of its own (for the life of the process).
pub fn serve(addr: SocketAddr, metrics: Metrics) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr).map_err(|e| format!("--listen {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("--listen {addr}: not an IP socket"))?;
    std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let _ = respond(request, &metrics);
            }
        })
        .map_err(|e| format!("--listen {addr}: {e}"))?;
    Ok(bound)
}

fn respond(request: tiny_http::Request, metrics: &Metrics) -> std::io::Result<()> {
    use tiny_http::{Header, Method, Response};
    let path = request.url().split('?').next().unwrap_or("");
    let text = |body: String, content_type: &str, status: u16| {
        let header = Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
            .expect("a valid header");
        Response::from_string(body)
            .with_status_code(status)
            .with_header(header)
    };
    let plain = "text/plain; charset=utf-8";
    let response = match (request.method(), path) {
        (Method::Get | Method::Head, "/metrics") => text(
            metrics.get(),
            "text/plain; version=0.0.4; charset=utf-8",
            200,
        ),
        (Method::Get | Method::Head, "/healthz") => text("ok\n".into(), plain, 200),
        (_, "/metrics" | "/healthz") => text("method not allowed\n".into(), plain, 405),
        _ => text("not found\n".into(), plain, 404),
    };
    request.respond(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(parse_listen("9187").unwrap().to_string(), "127.0.0.1:9187");
        assert_eq!(parse_listen(":9187").unwrap().to_string(), "127.0.0.1:9187");
        assert_eq!(
            parse_listen("0.0.0.0:80").unwrap().to_string(),
            "0.0.0.0:80"
        );
        assert_eq!(parse_listen("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(parse_listen("localhost").is_err());
        assert!(parse_listen("1.2.3.4").is_err());
    }
}
