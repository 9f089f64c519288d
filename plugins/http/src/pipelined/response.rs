//! Reading one HTTP/1.1 answer off a connection: its head (at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] headers), then its body as its framing says (Content-Length, chunked, or
//! until the connection closes), at most `max_body` bytes. Interim (1xx) answers are skipped.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The longest answer head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// The most headers an answer may have.
pub const MAX_HEADERS: usize = 64;
/// The longest line of a chunked body (size and extensions, or a trailer).
const MAX_CHUNK_LINE: usize = 1024;

/// One answer read whole.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Where a redirect points (its `Location`), as given.
    pub location: Option<String>,
    /// The connection ends after this answer (`Connection: close`, HTTP/1.0, or a body read to
    /// the end of the connection).
    pub close: bool,
}

/// Why no answer could be read; the connection is of no further use after any of these.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The connection ended before the answer's first byte.
    ClosedBeforeAnswer,
    /// Anything else, said in words.
    Broken(String),
    /// The body is larger than allowed.
    TooLarge,
}

/// How the body of an answer is delimited.
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads more into `buf`; false at the end of the connection.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> Result<bool, ReadError> {
    buf.reserve(8 * 1024);
    match io.read_buf(buf).await {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(ReadError::Broken(format!("reading the answer: {e}"))),
    }
}

fn broken(what: &str) -> ReadError {
    ReadError::Broken(what.to_owned())
}

/// Reads the next answer from `io`, `buf` holding what was read already (and, after, what
/// was read past the answer).
pub async fn read<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut, max_body: u64) -> Result<Response, ReadError> {
    let mut first = true;
    loop {
        let (status, framing, close, location) = loop {
            match parse_head(buf)? {
                Some(head) => break head,
                None if buf.len() >= MAX_HEAD => return Err(broken("the answer's head is larger than 16 KiB")),
                None => {
                    if !fill(io, buf).await? {
                        return Err(if first && buf.is_empty() {
                            ReadError::ClosedBeforeAnswer
                        } else {
                            broken("the connection closed in the middle of the answer's head")
                        });
                    }
                }
            }
        };
        first = false;
        if (100..200).contains(&status) {
            continue;
        }
        let body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(n) if n > max_body => return Err(ReadError::TooLarge),
            Framing::Length(n) => read_exact(io, buf, n as usize).await?,
            Framing::Chunked => read_chunked(io, buf, max_body).await?,
            Framing::UntilClose => read_to_close(io, buf, max_body).await?,
        };
        let close = close || matches!(framing, Framing::UntilClose);
        return Ok(Response {
            status,
            body,
            location,
            close,
        });
    }
}

/// The status, framing and `close` of the head at the front of `buf` (taken off it), or None
/// while it is not all there.
type Head = (u16, Framing, bool, Option<String>);

fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, ReadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ReadError::Broken(format!("the answer is not HTTP/1.1: {e}"))),
    };
    let status = response.code.unwrap_or(0);
    let mut close = response.version == Some(0);
    let (mut chunked, mut length, mut location) = (false, None, None);
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| broken("the answer's Content-Length is not a number"))?;
            if length.is_some_and(|l| l != n) {
                return Err(broken("the answer has two different Content-Lengths"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return Err(broken("the answer's Transfer-Encoding is not chunked"));
            }
        } else if h.name.eq_ignore_ascii_case("location") {
            location = Some(value.to_owned());
        } else if h.name.eq_ignore_ascii_case("connection") {
            let words = value.split(',').map(str::trim);
            for word in words {
                if word.eq_ignore_ascii_case("close") {
                    close = true;
                } else if word.eq_ignore_ascii_case("keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        }
    }
    buf.advance(used);
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some((status, framing, close, location)))
}

async fn read_exact<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut, n: usize) -> Result<Vec<u8>, ReadError> {
    while buf.len() < n {
        if !fill(io, buf).await? {
            return Err(broken("the connection closed in the middle of the answer's body"));
        }
    }
    Ok(buf.split_to(n).to_vec())
}

async fn read_to_close<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut, max: u64) -> Result<Vec<u8>, ReadError> {
    loop {
        if buf.len() as u64 > max {
            return Err(ReadError::TooLarge);
        }
        if !fill(io, buf).await? {
            return Ok(buf.split().to_vec());
        }
    }
}

/// One line (CRLF taken off), at most [`MAX_CHUNK_LINE`] long.
async fn read_line<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> Result<Vec<u8>, ReadError> {
    loop {
        if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(at).to_vec();
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > MAX_CHUNK_LINE {
            return Err(broken("a line of the answer's chunked body is longer than 1 KiB"));
        }
        if !fill(io, buf).await? {
            return Err(broken(
                "the connection closed in the middle of the answer's chunked body",
            ));
        }
    }
}

async fn read_chunked<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut, max: u64) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(io, buf).await?;
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
            .ok_or_else(|| broken("a chunk size of the answer's body is not a hex number"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(io, buf).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() as u64 + size > max {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&read_exact(io, buf, size as usize).await?);
        if !read_line(io, buf).await?.is_empty() {
            return Err(broken("a chunk of the answer's body does not end where its size says"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(text: &[u8], max: u64) -> (Result<Response, ReadError>, BytesMut) {
        let mut io = text;
        let mut buf = BytesMut::new();
        (read(&mut io, &mut buf, max).await, buf)
    }

    #[tokio::test]
    async fn answers_by_length_chunked_and_to_the_close_are_read_whole() {
        let (r, rest) = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1", 100).await;
        let r = r.expect("answer");
        assert_eq!((r.status, &r.body[..], r.close), (200, &b"abc"[..], false));
        assert_eq!(&rest[..], b"HTTP/1.1", "what follows is kept for the next answer");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
        assert_eq!(read_all(chunked, 100).await.0.expect("chunked").body, b"abcde");
        let r = read_all(b"HTTP/1.0 200 OK\r\n\r\nto the end", 100)
            .await
            .0
            .expect("to the close");
        assert_eq!((&r.body[..], r.close), (&b"to the end"[..], true));
        let r = read_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
            100,
        )
        .await
        .0
        .expect("after an interim answer");
        assert_eq!((r.status, r.body.len(), r.close), (204, 0, true));
    }

    #[tokio::test]
    async fn what_is_too_large_or_broken_is_refused_with_its_reason() {
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n";
        assert_eq!(read_all(big, 100).await.0.unwrap_err(), ReadError::TooLarge);
        let chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n";
        assert_eq!(read_all(chunks, 10).await.0.unwrap_err(), ReadError::TooLarge);
        assert_eq!(read_all(b"", 10).await.0.unwrap_err(), ReadError::ClosedBeforeAnswer);
        let head = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(matches!(read_all(&head, 10).await.0, Err(ReadError::Broken(e)) if e.contains("16 KiB")));
        assert!(
            matches!(read_all(b"SMTP ready\r\n\r\n", 10).await.0, Err(ReadError::Broken(e)) if e.contains("not HTTP"))
        );
        let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert!(
            matches!(read_all(cut, 100).await.0, Err(ReadError::Broken(e)) if e.contains("middle of the answer's body"))
        );
    }
}
