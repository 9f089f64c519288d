//! Reading lines from a telnet client: strips CR/LF and telnet option negotiation (IAC).

use ruvuma_plugin_api::tokio::io::{AsyncBufRead, AsyncBufReadExt};

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// Removes telnet commands: `IAC cmd`, `IAC WILL/WONT/DO/DONT opt`, `IAC SB ... IAC SE`;
/// `IAC IAC` is a literal 255.
pub fn strip_telnet(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != IAC {
            out.push(b);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(&IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(&SB) => {
                let end = input[i + 2..]
                    .windows(2)
                    .position(|w| w == [IAC, SE])
                    .map_or(input.len(), |p| i + 2 + p + 2);
                i = end;
            }
            Some(251..=254) => i += 3,
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    out
}

/// Lines of at most `max` bytes: a longer run of bytes is cut there and the rest read as the
/// next line. The line end (`\n`, `\r\n`) is not counted and not kept.
pub struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    /// The last line ended in `\r` at the cut: a `\n` right after it belongs to it.
    skip_lf: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(reader: R, max: usize) -> Self {
        Self {
            reader,
            max: max.max(1),
            buf: Vec::with_capacity(256),
            skip_lf: false,
        }
    }

    fn finish(&mut self) -> String {
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        String::from_utf8_lossy(&strip_telnet(&self.buf)).into_owned()
    }

    /// The next line; `None` at end of input.
    pub async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        self.buf.clear();
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok((!self.buf.is_empty()).then(|| self.finish()));
            }
            if std::mem::take(&mut self.skip_lf) && available[0] == b'\n' {
                self.reader.consume(1);
                continue;
            }
            if self.buf.len() == self.max {
                // Full: the line ends here. A line end right after it is part of it.
                match available[0] {
                    b'\n' => self.reader.consume(1),
                    b'\r' => {
                        self.reader.consume(1);
                        self.skip_lf = true;
                    }
                    _ => {}
                }
                return Ok(Some(self.finish()));
            }
            let room = self.max - self.buf.len();
            let window = &available[..available.len().min(room)];
            if let Some(end) = window.iter().position(|b| *b == b'\n') {
                self.buf.extend_from_slice(&window[..end]);
                self.reader.consume(end + 1);
                return Ok(Some(self.finish()));
            }
            let taken = window.len();
            self.buf.extend_from_slice(window);
            self.reader.consume(taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_negotiation() {
        assert_eq!(strip_telnet(b"hi"), b"hi");
        assert_eq!(strip_telnet(&[IAC, 251, 1, b'a', IAC, IAC, b'b']), [b'a', IAC, b'b']);
        assert_eq!(strip_telnet(&[b'x', IAC, SB, 24, 0, b'v', IAC, SE, b'y']), b"xy");
        assert_eq!(strip_telnet(&[b'z', IAC, 244]), b"z");
    }

    fn lines(input: &'static [u8], max: usize) -> Vec<String> {
        let rt = ruvuma_plugin_api::tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut reader = LineReader::new(input, max);
            let mut out = Vec::new();
            while let Some(l) = reader.next_line().await.unwrap() {
                out.push(l);
            }
            out
        })
    }

    #[test]
    fn reads_lines_and_cuts_long_ones_at_exactly_max() {
        assert_eq!(
            lines(b"hello\r\nworld\nabcdefgh", 5),
            ["hello", "world", "abcde", "fgh"]
        );
        assert_eq!(lines(b"abcde\r\nx\n", 5), ["abcde", "x"]);
        assert_eq!(lines(b"abcdef\r\n", 5), ["abcde", "f"]);
        assert_eq!(lines(b"abcd\r\n", 5), ["abcd"]);
        assert_eq!(lines(b"\n\n", 5), ["", ""]);
    }
}
